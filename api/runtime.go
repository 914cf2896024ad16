package api

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/delivery"
)

// The runtime's own checks, run on every write after the schema: what the
// API stores, the runtime loads. Each check is the function the runtime
// loader calls (engine.Trunk.Validate, alarm.AlarmBridge.Validate,
// delivery.MapperRoute, delivery.CheckRestAuth), not a copy of it.

// prepareAlarmbridge: the alarm service's check of the bridge, and its
// callback's restAuthentication as the HTTP sender reads it.
func prepareAlarmbridge(c *call, id string, d, old map[string]any) (map[string]any, error) {
	var b alarm.AlarmBridge
	if err := runtimeDecode(d, &b); err != nil {
		return nil, err
	}
	if err := b.Validate(); err != nil {
		return nil, runtimeRefusal(err)
	}
	return nil, checkRestAuth(d)
}

// prepareMapper: the delivery route of the mapper's targetEndpoint, built
// as the delivery resolver builds it, for the protocols it sends.
func prepareMapper(c *call, id string, d, old map[string]any) (map[string]any, error) {
	var m alarm.EventMapper
	if err := runtimeDecode(d, &m); err != nil {
		return nil, err
	}
	if m.TargetEndpoint.Protocol == "" {
		return nil, nil
	}
	m.ID = id
	if _, err := delivery.MapperRoute(c.domain, &m); err != nil {
		return nil, runtimeRefusal(err)
	}
	return nil, nil
}

// prepareRestAuth is the check of a document whose only runtime rule is its
// restAuthentication (media service).
func prepareRestAuth(c *call, id string, d, old map[string]any) (map[string]any, error) {
	return nil, checkRestAuth(d)
}

// DocumentChecker is implemented by a CallControl whose runtime loads
// provisioned documents the API has no loader of its own for (the media
// service's cloud SIP UAs): the API runs the loader's check on every
// write, so what the API stores, the runtime loads.
type DocumentChecker interface {
	CheckDocument(resource string, doc []byte) error
}

// prepareChecked: restAuthentication, then the runtime's own check of the
// document when a runtime is wired (without one the schema's checks and
// restAuthentication's are all there is to run).
func prepareChecked(res string) func(c *call, id string, d, old map[string]any) (map[string]any, error) {
	return func(c *call, id string, d, old map[string]any) (map[string]any, error) {
		if err := checkRestAuth(d); err != nil {
			return nil, err
		}
		chk, ok := c.s.cfg.Calls.(DocumentChecker)
		if !ok {
			return nil, nil
		}
		b, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		if err := chk.CheckDocument(res, b); err != nil {
			return nil, runtimeRefusal(err)
		}
		return nil, nil
	}
}

// checkRestAuth runs delivery.CheckRestAuth on the document's
// restAuthentication, the list the HTTP sender signs callbacks with.
func checkRestAuth(d map[string]any) error {
	var doc struct {
		Auth []delivery.RestAuth `json:"restAuthentication"`
	}
	if err := runtimeDecode(d, &doc); err != nil {
		return err
	}
	if err := delivery.CheckRestAuth(doc.Auth); err != nil {
		return runtimeRefusal(err)
	}
	return nil
}

// runtimeDecode reads a validated document into the runtime's struct the
// way its loader does (stored JSON, decoded).
func runtimeDecode(doc map[string]any, into any) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, into); err != nil {
		return ferr("body", "%v", err)
	}
	return nil
}

// runtimeRefusal turns a runtime check's error (an *alarm.FieldError, or
// "field: rule") into a 400 naming the field.
func runtimeRefusal(err error) error {
	if fe, ok := errors.AsType[*alarm.FieldError](err); ok {
		return ferr(fe.Field, "%s", fe.Rule)
	}
	field, rule, ok := strings.Cut(err.Error(), ": ")
	if !ok || strings.ContainsAny(field, " \"") {
		return ferr("body", "%v", err)
	}
	return ferr(field, "%s", rule)
}
