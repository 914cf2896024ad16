package api

import (
	"encoding/json"
	"errors"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/edgebridge/edgebridge/store"
)

// kind describes one provisioned resource: where it is stored, how its id
// is named, the keys of its responses and the rules of a write.
type kind struct {
	res       string // URL segment and store resource
	idParam   string // path parameter of the id
	idField   string // field of the document holding the id ("" = none)
	listKey   string // list response key
	oneKey    string // get response key ("" = fields at the top level)
	title     string // for messages and the OpenAPI summary
	provisory bool   // has ?provisory=true
	ext       string // set when the whole resource is a gateway extension
	schema    *Schema
	hidden    []string // stored but never returned (secrets)
	filter    bool     // list takes ?filter= (an id prefix)
	// listItem, when set, is how list shows a document (default: as is).
	listItem func(id string, doc map[string]any) any
	// prepare applies the resource's own rules to a validated document (old
	// is the stored one or nil) and returns extra response fields.
	prepare func(c *call, id string, doc, old map[string]any) (map[string]any, error)
	// inUse, when set, refuses to delete a document others still name
	// (run in the delete's transaction).
	inUse func(c *call, tx *store.Tx, id string) error
}

func (k *kind) public(doc map[string]any) map[string]any {
	for _, h := range k.hidden {
		delete(doc, h)
	}
	return hideSecrets(k.res, doc)
}

func (k *kind) collFor(c *call) (store.Coll, error) {
	prov := false
	if k.provisory {
		var err error
		if prov, err = c.provisory(); err != nil {
			return store.Coll{}, err
		}
	}
	return c.coll(k.res, prov), nil
}

// write validates doc as a full write of id and stores it, in one
// transaction with the read of the old document.
func (k *kind) write(c *call, coll store.Coll, id string, doc map[string]any) (map[string]any, error) {
	var extras map[string]any
	err := c.s.db.Update(func(tx *store.Tx) error {
		var old map[string]any
		if b, err := tx.Get(coll, id); err == nil {
			if old, err = decodeDoc(b); err != nil {
				return err
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var err error
		c.tx = tx
		if extras, err = k.finish(c, id, doc, old); err != nil {
			return err
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		return tx.Put(coll, id, b)
	})
	return extras, err
}

func (k *kind) finish(c *call, id string, doc, old map[string]any) (map[string]any, error) {
	if k.idField != "" {
		if v, ok := doc[k.idField]; ok && v != id {
			return nil, ferr(k.idField, "must match the id in the path (%s)", id)
		}
		doc[k.idField] = id
	}
	// A document belongs to the domain of its path: a body (or a patch)
	// naming another would move it out of its tenant's reach.
	if d, ok := doc["domain"]; ok && d != c.domain {
		return nil, ferr("domain", "must be the domain in the path (%s)", c.domain)
	}
	keepSecrets(k.res, doc, old)
	if err := refuseFields(k.res, doc); err != nil {
		return nil, err
	}
	if k.prepare != nil {
		return k.prepare(c, id, doc, old)
	}
	return nil, nil
}

func (k *kind) list(c *call) error {
	coll, err := k.collFor(c)
	if err != nil {
		return err
	}
	q, err := c.listQuery()
	if err != nil {
		return err
	}
	if k.filter {
		q.Prefix = c.r.URL.Query().Get("filter")
	}
	page, err := c.s.db.List(coll, q)
	if err != nil {
		return err
	}
	items := make([]any, 0, len(page.Docs))
	for _, d := range page.Docs {
		m, err := decodeDoc(d.JSON)
		if err != nil {
			return err
		}
		if k.listItem != nil {
			items = append(items, k.listItem(d.ID, k.public(m)))
			continue
		}
		items = append(items, k.public(m))
	}
	out := map[string]any{k.listKey: items}
	if page.NextToken != "" {
		out["nextToken"] = page.NextToken
	}
	return c.ok(out)
}

func (k *kind) get(c *call) error {
	coll, err := k.collFor(c)
	if err != nil {
		return err
	}
	id := c.r.PathValue(k.idParam)
	m, err := c.s.storedDoc(coll, id)
	if err != nil {
		return err
	}
	if m == nil {
		return notFound(k.title, id)
	}
	m = k.public(m)
	if k.oneKey == "" {
		return c.ok(m)
	}
	return c.ok(map[string]any{k.oneKey: m})
}

// create is POST on the collection: the id comes from the body's id field or
// is generated.
func (k *kind) create(c *call) error {
	return k.save(c, func(doc map[string]any) string {
		id := ""
		if k.idField != "" {
			id, _ = doc[k.idField].(string)
		}
		if id == "" {
			id = newID()
		}
		return id
	})
}

// put overwrites (or creates) the document named in the path.
func (k *kind) put(c *call) error {
	return k.save(c, func(map[string]any) string { return c.r.PathValue(k.idParam) })
}

// save validates the body, writes it under the id idOf gives and answers
// with that id.
func (k *kind) save(c *call, idOf func(doc map[string]any) string) error {
	coll, err := k.collFor(c)
	if err != nil {
		return err
	}
	doc, err := c.object()
	if err != nil {
		return err
	}
	id := idOf(doc)
	extras, err := k.write(c, coll, id, doc)
	if err != nil {
		return err
	}
	return c.ok(merge(map[string]any{"id": id}, extras))
}

func (k *kind) del(c *call) error {
	coll, err := k.collFor(c)
	if err != nil {
		return err
	}
	id := c.r.PathValue(k.idParam)
	del := func() error { return c.s.db.Delete(coll, id) }
	if k.inUse != nil {
		del = func() error {
			return c.s.db.Update(func(tx *store.Tx) error {
				if err := k.inUse(c, tx, id); err != nil {
					return err
				}
				return tx.Delete(coll, id)
			})
		}
	}
	if err := del(); errors.Is(err, store.ErrNotFound) {
		return notFound(k.title, id)
	} else if err != nil {
		return err
	}
	return c.ok(nil)
}

// patch applies an RFC 6902 JSON Patch to the document as GET shows it (so
// a "test" op cannot probe a hidden secret), validates the result like a full
// write, and stores it; all in one transaction, all or nothing.
func (k *kind) patch(c *call) error {
	coll, err := k.collFor(c)
	if err != nil {
		return err
	}
	id := c.r.PathValue(k.idParam)
	p, err := c.patchBody()
	if err != nil {
		return err
	}
	var extras map[string]any
	err = c.s.db.Update(func(tx *store.Tx) error {
		b, err := tx.Get(coll, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound(k.title, id)
		} else if err != nil {
			return err
		}
		old, err := decodeDoc(b)
		if err != nil {
			return err
		}
		view, _ := json.Marshal(k.public(cloneMap(old)))
		patched, err := applyPatch(p, view)
		if err != nil {
			return err
		}
		in, err := decodeJSON(patched)
		if err != nil {
			return err
		}
		if k.idField != "" {
			if m, ok := in.(map[string]any); ok && m[k.idField] != id {
				return ferr(k.idField, "cannot be changed by a patch")
			}
		}
		v, err := k.schema.validate("", in)
		if err != nil {
			return err
		}
		doc := v.(map[string]any)
		// Hidden fields were not in the view: carry them over unless the
		// patch's rules (prepare) replace them.
		for _, h := range k.hidden {
			if _, set := doc[h]; !set {
				if x, ok := old[h]; ok {
					doc[h] = x
				}
			}
		}
		c.tx = tx
		if extras, err = k.finish(c, id, doc, old); err != nil {
			return err
		}
		out, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		return tx.Put(coll, id, out)
	})
	if err != nil {
		return err
	}
	return c.ok(extras)
}

// patchBody reads a JSON Patch body, checked against the route's body schema.
func (c *call) patchBody() (jsonpatch.Patch, error) {
	raw, err := c.body(maxJSONBody, "application/json", "application/json-patch+json")
	if err != nil {
		return nil, err
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	if _, ok := v.([]any); !ok {
		return nil, ferr("body", "must be a JSON Patch: an array of operations (RFC 6902)")
	}
	if _, err := c.rt.body.validate("", v); err != nil {
		return nil, err
	}
	p, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, ferr("body", "invalid JSON Patch: %v", err)
	}
	return p, nil
}

func applyPatch(p jsonpatch.Patch, doc []byte) ([]byte, error) {
	opts := jsonpatch.NewApplyOptions()
	opts.EnsurePathExistsOnAdd = false
	out, err := p.ApplyWithOptions(doc, opts)
	if err != nil {
		return nil, ferr("patch", "%v", err)
	}
	return out, nil
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func merge(a, b map[string]any) map[string]any {
	for k, v := range b {
		a[k] = v
	}
	return a
}

// The collection kinds with the standard shape (provisioning schema).
func (s *Server) kinds() (ab, aem, ms, ua *kind) {
	ab = &kind{res: "alarmbridge", idParam: "alarmBridgeId", idField: "id", listKey: "alarmbridges", oneKey: "alarmbridge",
		title: "Alarmbridge", provisory: true, schema: alarmbridgeSchema(), prepare: prepareAlarmbridge}
	aem = &kind{res: "alarmeventmapper", idParam: "alarmEventMapperId", idField: "id", listKey: "alarmeventmappers", oneKey: "alarmeventmapper",
		title: "Alarm Event Mapper", provisory: true, schema: alarmEventMapperSchema(), prepare: prepareMapper}
	ms = &kind{res: "mediaservice", idParam: "mediaServiceId", idField: "id", listKey: "mediaservices", oneKey: "mediaservice",
		title: "Media Service", provisory: true, schema: mediaServiceSchema(), prepare: prepareRestAuth}
	ua = &kind{res: "cloudsipua", idParam: "cloudSipUAId", idField: "id", listKey: "cloudsipuas", oneKey: "cloudsipua",
		title: "Cloud SIP User Agent", provisory: true, schema: cloudSipUASchema(), prepare: prepareChecked("cloudsipua")}
	return
}

// trustedNetworkKind: the hosted PBX API's trusted networks, read by the engine.
func (s *Server) trustedNetworkKind() *kind {
	return &kind{res: "trustednetwork", idParam: "trustedNetworkId", idField: "id", listKey: "trustednetworks", oneKey: "trustednetwork",
		title: "trusted network", schema: trustedNetworkSchema(), ext: "the hosted PBX API's trusted networks (SIP requests from them need no digest)"}
}
