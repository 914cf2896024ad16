package api

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"

	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/store"
)

// Users and ring groups of the local PBX: gateway extensions with the
// field names of a hosted PBX API (its SIP users and groups; the ring
// fields of its queue members are the group's here, and a group lists its
// members with their ringOrder). The engine reads them (engine.User,
// engine.Group); what it cannot do is refused by the field table.

const pbxExt = "gateway extension: local PBX users and groups (a hosted PBX API's field names)"

func userKind() *kind {
	return &kind{res: engine.ResUser, idParam: "userId", idField: "id", listKey: "users", oneKey: "user",
		title: "PBX user", schema: userSchema(), ext: pbxExt, prepare: prepareUser, inUse: userInGroup}
}

func groupKind() *kind {
	return &kind{res: engine.ResGroup, idParam: "groupId", idField: "id", listKey: "groups", oneKey: "group",
		title: "PBX group", schema: groupSchema(), ext: pbxExt, prepare: prepareGroup}
}

func extensionNumber() *Schema {
	return str().pattern(`^[0-9*#]{1,16}$`).desc("Internal extension number, callable by the domain's devices (tried before trunks).")
}

func userSchema() *Schema {
	return obj(
		opt("id", str().pattern(idPattern)),
		req("user", str().desc("User name: the deviceId of the domain's device whose registrations this user's extension rings.")),
		req("extensionNumber", extensionNumber()),
		opt("displayName", str()), opt("email", str()), opt("firstName", str()), opt("lastName", str()),
		opt("jobName", str()), opt("departmentName", str()), opt("companyName", str()), opt("officeName", str()),
		opt("password", str()), opt("pin", str()), opt("hotdeskAllowed", int32s()),
		opt("mobileNumber", str().pattern(`^\+?[0-9]{3,20}$`).desc("Missed calls to this user's own extension (no answer within ringSecs, refused by every registration, or none registered) forward to this number through the trunk whose destinationMatch takes it. A call to a group the user is a member of is never forwarded to it.")),
		opt("mobileFollow", int32s().min(0).max(1).desc("0 keeps mobileNumber but forwards nothing; unset or 1 forwards missed calls to it.")),
		opt("ringSecs", int32s().min(1).max(300).desc("Seconds the user's devices ring before a missed call goes to mobileNumber. Default 20.").extNote("gateway extension: the ring time before the forward to mobileNumber")),
		opt("ukCallerId", str()), opt("usCallerId", str()), opt("ukPhoneId", int32s()), opt("usPhoneId", int32s()),
		opt("dashboard", int32s()),
	).extNote(pbxExt)
}

func groupSchema() *Schema {
	return obj(
		opt("id", str().pattern(idPattern)),
		req("groupName", str()),
		opt("displayName", str()),
		req("extensionNumber", extensionNumber()),
		opt("ringStrategy", str().enum(engine.RingAll, engine.RingHuntLongestIdle).
			desc("all rings every member at once; huntLongestIdle one at a time, the longest idle first. Default all.")),
		opt("ringSecs", int32s().min(1).max(300).desc("Seconds a member (huntLongestIdle) or a round (all) rings. Default 20.")),
		opt("ringAttempts", int32s().min(1).max(10).desc("Rounds through the members. Default 1. A call no member answers in these rounds ends with 480; it is not forwarded to a member's mobileNumber.")),
		opt("callerNameFormat", str().desc("Caller name the members see: {displayName}, {srcPhoneNumber}, {dgrpName}.")),
		opt("members", arr(obj(
			req("userId", str().pattern(idPattern)),
			opt("ringOrder", int32s().desc("Lowest rings first.")),
		))),
		opt("ringExclusive", int32s().min(0).max(1).desc("1 queues calls: a call that finds every member busy waits, hearing ringback, until a member is free, callers served in arrival order; at most 10 wait (486 beyond), each at most 5 minutes (then 480). A backlog raises the call-queue-backlog alert.")),
		opt("ringRetry", int32s().min(0).max(1)),
	).extNote(pbxExt)
}

// prepareUser: engine.User.Validate, the user's device exists, and the
// extension number is no other user's or group's.
func prepareUser(c *call, id string, d, old map[string]any) (map[string]any, error) {
	var u engine.User
	if err := runtimeDecode(d, &u); err != nil {
		return nil, err
	}
	if err := u.Validate(); err != nil {
		return nil, runtimeRefusal(err)
	}
	if _, err := c.tx.Get(c.coll(engine.ResDevice, false), u.User); errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrBadName) {
		return nil, ferr("user", "no device %q in domain %s (provision it first)", u.User, c.domain)
	} else if err != nil {
		return nil, err
	}
	if u.MobileNumber != "" {
		if err := trunkTakes(c, u.MobileNumber); err != nil {
			return nil, err
		}
	}
	return nil, extensionFree(c, engine.ResUser, id, u.ExtensionNumber)
}

// trunkTakes refuses a mobileNumber no trunk of the domain would carry
// (destinationMatch, blacklistPattern): its missed calls would go nowhere.
func trunkTakes(c *call, number string) error {
	found := false
	err := c.tx.ForEach(c.coll(engine.ResTrunk, false), "", func(_ string, doc []byte) (bool, error) {
		var t engine.Trunk
		if json.Unmarshal(doc, &t) != nil {
			return true, nil
		}
		if m, err := engine.CompileMatch(t.DestinationMatch); err != nil || !m.MatchString(number) {
			return true, nil
		}
		if t.BlacklistPattern != "" {
			if b, err := engine.CompileMatch(t.BlacklistPattern); err == nil && b.MatchString(number) {
				return true, nil
			}
		}
		found = true
		return false, nil
	})
	if err != nil {
		return err
	}
	if !found {
		return ferr("mobileNumber", "no trunk of domain %s takes %s (destinationMatch): provision the trunk first", c.domain, number)
	}
	return nil
}

// prepareGroup: engine.Group.Validate, every member is a user, and the
// extension number is no other user's or group's.
func prepareGroup(c *call, id string, d, old map[string]any) (map[string]any, error) {
	var g engine.Group
	if err := runtimeDecode(d, &g); err != nil {
		return nil, err
	}
	if err := g.Validate(); err != nil {
		return nil, runtimeRefusal(err)
	}
	for i, m := range g.Members {
		if _, err := c.tx.Get(c.coll(engine.ResUser, false), m.UserID); errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrBadName) {
			return nil, ferr("members["+strconv.Itoa(i)+"].userId", "no user %q in domain %s", m.UserID, c.domain)
		} else if err != nil {
			return nil, err
		}
	}
	return nil, extensionFree(c, engine.ResGroup, id, g.ExtensionNumber)
}

// extensionFree refuses number when another user or group of the domain
// has it (one number, one destination).
func extensionFree(c *call, res, id, number string) error {
	for _, other := range []string{engine.ResUser, engine.ResGroup} {
		var taken string
		err := c.tx.ForEach(c.coll(other, false), "", func(oid string, doc []byte) (bool, error) {
			if other == res && oid == id {
				return true, nil
			}
			var x struct {
				ExtensionNumber string `json:"extensionNumber"`
			}
			if json.Unmarshal(doc, &x) == nil && x.ExtensionNumber == number {
				taken = other + " " + oid
				return false, nil
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		if taken != "" {
			return ferr("extensionNumber", "%s is already the extension of %s", number, taken)
		}
	}
	return nil
}

// limitKind: the call limits of a domain (category and quantity, after a
// CPaaS API's Limits; the id is the category).
func limitKind() *kind {
	return &kind{res: engine.ResLimit, idParam: "category", idField: "category", listKey: "limits", oneKey: "limit",
		title: "call limit", schema: limitSchema(), ext: "gateway extension: call limits (a CPaaS API's Limits categories)", prepare: prepareLimit}
}

func limitSchema() *Schema {
	return obj(
		req("category", str().desc(engine.LimitSessions+": calls in progress in the domain; "+engine.LimitDeviceSessions+
			" (extension): calls in progress per device; "+engine.LimitCallRate+" (extension): new calls per second from one source address. "+
			"Beyond a limit a call is answered 503 with Retry-After.")),
		req("quantity", int32s().min(0).max(100000).desc("The limit; 0 is none.").extNote("gateway extension: the limit's value")),
	).extNote("gateway extension: call limits")
}

func prepareLimit(c *call, id string, d, old map[string]any) (map[string]any, error) {
	var l engine.LimitDoc
	if err := runtimeDecode(d, &l); err != nil {
		return nil, err
	}
	if err := l.Validate(); err != nil {
		return nil, runtimeRefusal(err)
	}
	return nil, nil
}

// userInGroup refuses to delete a user a group still lists: the group
// would ring fewer members than it says.
func userInGroup(c *call, tx *store.Tx, id string) error {
	var group string
	err := tx.ForEach(c.coll(engine.ResGroup, false), "", func(gid string, doc []byte) (bool, error) {
		var g engine.Group
		if json.Unmarshal(doc, &g) == nil && slices.ContainsFunc(g.Members, func(m engine.GroupMember) bool { return m.UserID == id }) {
			group = gid
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if group != "" {
		return ferr("userId", "user %s is a member of group %s: remove it from the group first", id, group)
	}
	return nil
}
