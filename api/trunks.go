package api

import "github.com/edgebridge/edgebridge/engine"

// Trunks: /provisioning/trunk/{domain}[/{trunkId}]. Stored at
// store.Coll{Domain, "trunk"} under the trunkId as the serviceDestination
// object; "password" is kept for upstream registration but never returned by
// GET.

func (s *Server) trunkKind() *kind {
	return &kind{res: "trunk", idParam: "trunkId", listKey: "trunks", oneKey: "trunk", title: "trunk",
		schema: trunkSchema(), hidden: []string{"password"}, prepare: prepareTrunk,
		listItem: func(id string, d map[string]any) any { return map[string]any{"trunkId": id, "serviceDestination": d} }}
}

// prepareTrunk: when userName, realm and password are all given, ha1 is
// MD5(userName:realm:password); the response of the write that creates the
// trunk carries the password (as the provisioning schema's sample does),
// no later one does (PUT over it, PATCH). Giving
// some of the three without the others is refused, unless an ha1 comes with
// them (a GET document written back). Last, the engine's own check
// (engine.Trunk.Validate, which its loader runs too) must pass.
func prepareTrunk(c *call, id string, d, old map[string]any) (map[string]any, error) {
	extras, err := trunkCredentials(d, old)
	if err != nil {
		return nil, err
	}
	var t engine.Trunk
	if err := runtimeDecode(d, &t); err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, runtimeRefusal(err)
	}
	return extras, nil
}

func trunkCredentials(d, old map[string]any) (map[string]any, error) {
	d["type"] = "trunk"
	// One network may be given as a plain string; store the list form.
	if n, ok := d["sourceNetworks"].(string); ok {
		d["sourceNetworks"] = []any{n}
	}
	user, hasUser := d["userName"].(string)
	realm, hasRealm := d["realm"].(string)
	pw, hasPw := d["password"].(string)
	_, hasHA1 := d["ha1"].(string)
	switch {
	case hasUser && hasRealm && hasPw:
		d["ha1"] = HA1(user, realm, pw)
		if old != nil {
			return nil, nil
		}
		return map[string]any{"password": pw}, nil
	case (hasUser || hasRealm || hasPw) && !hasHA1:
		missing := "userName"
		if hasUser {
			missing = "realm"
			if hasRealm {
				missing = "password"
			}
		}
		return nil, ferr(missing, "required: userName, realm and password must be given together")
	}
	// Written back without the (hidden) password: keep the stored one if the
	// credentials did not change.
	if !hasPw && old != nil && old["ha1"] == d["ha1"] {
		if p, ok := old["password"]; ok {
			d["password"] = p
		}
	}
	return nil, nil
}

// upsertTrunk is PUT /trunk/{domain} with {trunkId, serviceDestination}: the
// trunk with that id is created or replaced; without trunkId a new one is made.
func (s *Server) upsertTrunk(c *call) error {
	k := s.trunks
	body, err := c.object()
	if err != nil {
		return err
	}
	id, _ := body["trunkId"].(string)
	if id == "" {
		id = newID()
	}
	doc := body["serviceDestination"].(map[string]any)
	extras, err := k.write(c, c.coll("trunk", false), id, doc)
	if err != nil {
		return err
	}
	return c.ok(merge(map[string]any{"id": id, "trunkId": id}, extras))
}
