package api

import (
	"encoding/json"
	"errors"

	"github.com/edgebridge/edgebridge/store"
)

// Single-document settings: notification settings and the siprec service
// per domain (store.Coll{Domain, resource} id "settings"), and the one local
// user profile (sysDomain/profile/local).

var collProfile = store.Coll{Domain: sysDomain, Resource: "profile"}

func (s *Server) getSettings(resource string) func(c *call) error {
	return func(c *call) error {
		b, err := s.db.Get(c.coll(resource, false), "settings")
		if errors.Is(err, store.ErrNotFound) {
			return c.ok(nil) // nothing set yet: an empty settings object
		} else if err != nil {
			return err
		}
		m, err := decodeDoc(b)
		if err != nil {
			return err
		}
		return c.ok(m)
	}
}

func (s *Server) putSettings(resource string) func(c *call) error {
	return func(c *call) error {
		doc, err := c.object()
		if err != nil {
			return err
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		if err := s.db.Put(c.coll(resource, false), "settings", b); err != nil {
			return err
		}
		return c.ok(nil)
	}
}

func (s *Server) getProfile(c *call) error {
	b, err := s.db.Get(collProfile, "local")
	if errors.Is(err, store.ErrNotFound) {
		return c.ok(map[string]any{"profile": map[string]any{}})
	} else if err != nil {
		return err
	}
	m, err := decodeDoc(b)
	if err != nil {
		return err
	}
	return c.ok(map[string]any{"profile": m})
}

// putProfile replaces the profile (create=true: POST, the first sign-in
// form with its extra fields; false: PUT, update).
func (s *Server) putProfile(create bool) func(c *call) error {
	return func(c *call) error {
		doc, err := c.object()
		if err != nil {
			return err
		}
		err = s.db.Update(func(tx *store.Tx) error {
			if !create {
				// An update keeps the sign-up fields it does not carry.
				if b, err := tx.Get(collProfile, "local"); err == nil {
					old, err := decodeDoc(b)
					if err != nil {
						return err
					}
					for k, v := range old {
						if _, set := doc[k]; !set && profileSchema(true).Properties[k] != nil && profileSchema(false).Properties[k] == nil {
							doc[k] = v
						}
					}
				}
			}
			b, err := json.Marshal(doc)
			if err != nil {
				return err
			}
			return tx.Put(collProfile, "local", b)
		})
		if err != nil {
			return err
		}
		return c.ok(nil)
	}
}

// patchProfile merges the given fields into the profile (the seed's PATCH
// takes a partial profile object, not a JSON Patch).
func (s *Server) patchProfile(c *call) error {
	in, err := c.object()
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *store.Tx) error {
		doc := map[string]any{}
		if b, err := tx.Get(collProfile, "local"); err == nil {
			if doc, err = decodeDoc(b); err != nil {
				return err
			}
		}
		for k, v := range in {
			doc[k] = v
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		return tx.Put(collProfile, "local", b)
	})
	if err != nil {
		return err
	}
	return c.ok(nil)
}
