package api

import (
	"encoding/json"

	"github.com/edgebridge/edgebridge/store"
)

// Single-document settings: notification settings and the siprec service
// per domain (store.Coll{Domain, resource} id "settings"), and the one local
// user profile (sysDomain/profile/local).

var collProfile = store.Coll{Domain: sysDomain, Resource: "profile"}

func (s *Server) getSettings(resource string) func(c *call) error {
	return func(c *call) error {
		m, err := s.storedDoc(c.coll(resource, false), "settings")
		if err != nil {
			return err
		}
		return c.ok(hideSecrets(resource, m)) // nothing set yet (nil): an empty settings object
	}
}

func (s *Server) putSettings(resource string) func(c *call) error {
	return func(c *call) error {
		doc, err := c.object()
		if err != nil {
			return err
		}
		coll := c.coll(resource, false)
		err = s.db.Update(func(tx *store.Tx) error {
			// A secret left out (a GET document written back) keeps its
			// stored value.
			if b, err := tx.Get(coll, "settings"); err == nil {
				old, err := decodeDoc(b)
				if err != nil {
					return err
				}
				keepSecrets(resource, doc, old)
			}
			if err := refuseFields(resource, doc); err != nil {
				return err
			}
			if err := checkRestAuth(doc); err != nil {
				return err
			}
			b, err := json.Marshal(doc)
			if err != nil {
				return err
			}
			return tx.Put(coll, "settings", b)
		})
		if err != nil {
			return err
		}
		return c.ok(nil)
	}
}

func (s *Server) getProfile(c *call) error {
	m, err := s.storedDoc(collProfile, "local")
	if err != nil {
		return err
	}
	if m == nil {
		m = map[string]any{}
	}
	return c.ok(map[string]any{"profile": m})
}

// putProfile replaces the profile (create=true: POST, the first sign-in
// form with its extra fields; false: PUT, update).
func (s *Server) putProfile(create bool) func(c *call) error {
	var keep func(field string) bool // POST replaces the whole profile
	if !create {
		// An update keeps the sign-up fields it does not carry.
		signUp, update := profileSchema(true).Properties, profileSchema(false).Properties
		keep = func(k string) bool { return signUp[k] != nil && update[k] == nil }
	}
	return func(c *call) error {
		doc, err := c.object()
		if err != nil {
			return err
		}
		if err := s.saveProfile(doc, keep); err != nil {
			return err
		}
		return c.ok(nil)
	}
}

// patchProfile merges the given fields into the profile (the provisioning schema's PATCH
// takes a partial profile object, not a JSON Patch).
func (s *Server) patchProfile(c *call) error {
	in, err := c.object()
	if err != nil {
		return err
	}
	if err := s.saveProfile(in, func(string) bool { return true }); err != nil {
		return err
	}
	return c.ok(nil)
}

// saveProfile stores doc as the profile after filling in the stored
// profile's fields that doc does not carry and keep accepts (nil: none).
func (s *Server) saveProfile(doc map[string]any, keep func(field string) bool) error {
	return s.db.Update(func(tx *store.Tx) error {
		if keep != nil {
			if b, err := tx.Get(collProfile, "local"); err == nil {
				old, err := decodeDoc(b)
				if err != nil {
					return err
				}
				for k, v := range old {
					if _, set := doc[k]; !set && keep(k) {
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
}
