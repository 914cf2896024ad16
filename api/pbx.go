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
		opt("mobileNumber", str()), opt("mobileFollow", int32s()),
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
		opt("ringAttempts", int32s().min(1).max(10).desc("Rounds through the members. Default 1.")),
		opt("callerNameFormat", str().desc("Caller name the members see: {displayName}, {srcPhoneNumber}, {dgrpName}.")),
		opt("members", arr(obj(
			req("userId", str().pattern(idPattern)),
			opt("ringOrder", int32s().desc("Lowest rings first.")),
		))),
		opt("ringExclusive", int32s().min(0).max(1)),
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
	return nil, extensionFree(c, engine.ResUser, id, u.ExtensionNumber)
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
