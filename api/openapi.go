package api

import (
	"encoding/json"
	"net/http"
	"strings"
)

// The OpenAPI 3.0 document, generated from the route table and the very
// schemas that validate requests. Gateway extensions (fields, enum values or
// operations that neither the provisioning schema nor the other APIs it
// mirrors have) carry x-edgebridge-extension.

// pathParams lists the wildcards of a route's path ({name}, name of
// letters, digits and '_'), in order.
func pathParams(path string) []string {
	var out []string
	for {
		i := strings.IndexByte(path, '{')
		if i < 0 {
			return out
		}
		path = path[i+1:]
		j := strings.IndexByte(path, '}')
		if j < 0 {
			return out
		}
		name := path[:j]
		if name != "" && strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == "" {
			out = append(out, name)
			path = path[j+1:]
		}
	}
}

func errorSchema() *Schema {
	return obj(req("success", boolean()), req("reason", str().desc("<field>: <rule broken>, or what went wrong.")))
}

// OpenAPI returns the document as JSON.
func (s *Server) OpenAPI() []byte {
	s.docOnce.Do(func() { s.doc = s.buildOpenAPI() })
	return s.doc
}

func (s *Server) buildOpenAPI() []byte {
	paths := map[string]map[string]any{}
	errResp := func(d string) map[string]any {
		return map[string]any{"description": d, "content": map[string]any{jsonType: map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	}
	for _, rt := range s.routes {
		item := paths[rt.path]
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
			var params []any
			for _, name := range rt.params {
				params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
			}
			if params != nil {
				item["parameters"] = params
			}
			item["options"] = map[string]any{
				"summary":     "CORS preflight: the allowed methods.",
				"operationId": opID("OPTIONS", rt.path),
				"security":    []any{},
				"responses":   map[string]any{"200": map[string]any{"description": "Allowed methods in Allow and Access-Control-Allow-Methods."}},
			}
		}
		op := map[string]any{
			"summary":     rt.summary,
			"operationId": opID(rt.method, rt.path),
			"tags":        []string{rt.tag},
		}
		if rt.ext != "" {
			op["x-edgebridge-extension"] = rt.ext
		}
		if rt.auth == authNone {
			op["security"] = []any{}
		}
		var qp []any
		for _, p := range rt.query {
			qp = append(qp, map[string]any{"name": p.name, "in": "query", "required": p.required, "description": p.desc, "schema": p.schema})
		}
		if qp != nil {
			op["parameters"] = qp
		}
		if rt.body != nil {
			ct := rt.bodyType
			if ct == "" {
				ct = jsonType
			}
			content := map[string]any{ct: map[string]any{"schema": rt.body}}
			if rt.method == http.MethodPatch && rt.body.Type == "array" {
				content["application/json-patch+json"] = map[string]any{"schema": rt.body}
			}
			// DELETE all devices: the body is optional (absent = simulate).
			op["requestBody"] = map[string]any{"required": rt.method != http.MethodDelete, "content": content}
		}
		rtype := rt.respType
		if rtype == "" {
			rtype = jsonType
		}
		resp := map[string]any{"description": "Success."}
		if rt.resp != nil {
			resp["content"] = map[string]any{rtype: map[string]any{"schema": rt.resp}}
		}
		responses := map[string]any{"200": resp}
		if rt.auth != authNone {
			responses["401"] = errResp("Missing or unknown API key.")
			responses["403"] = errResp("A domain key used on another domain.")
		}
		if rt.body != nil {
			responses["400"] = errResp("Bad input: reason is \"<field>: <rule>\". Nothing was changed.")
			responses["413"] = errResp("Body too large.")
			responses["415"] = errResp("Wrong Content-Type.")
		} else if len(rt.query) > 0 || strings.Contains(rt.path, "{") {
			responses["400"] = errResp("Bad parameter.")
		}
		if strings.Count(rt.path, "{") >= 2 || rt.method != http.MethodGet {
			responses["404"] = errResp("Not found.")
		}
		if strings.HasPrefix(rt.path, "/mediaservice/") || strings.HasPrefix(rt.path, "/alarmbridge/") {
			responses["503"] = errResp("No call engine is wired in.")
		}
		op["responses"] = responses
		item[strings.ToLower(rt.method)] = op
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "edgebridge local API",
			"version":     s.cfg.Version,
			"description": "The alarm gateway's local mirror of the cloud provisioning API (under /provisioning), live call control, metrics and health. Every operation but /healthz needs Authorization: Bearer KEY (the admin key, or a key of the path's domain).",
		},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
			"schemas":         map[string]any{"Error": errorSchema()},
		},
		"security": []any{map[string]any{"bearer": []any{}}},
	}
	if doc["info"].(map[string]any)["version"] == "" {
		doc["info"].(map[string]any)["version"] = "dev"
	}
	b, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		panic("api: openapi: " + err.Error())
	}
	return b
}

func opID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	up := true
	for _, r := range path {
		switch {
		case r == '/' || r == '{' || r == '}' || r == '.' || r == '-':
			up = true
		case up:
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (s *Server) openapi(c *call) error {
	c.w.Header().Set("Content-Type", jsonType)
	c.w.WriteHeader(http.StatusOK)
	_, err := c.w.Write(s.OpenAPI())
	return err
}

// RouteInfo names one operation (for the console and for tests).
type RouteInfo struct {
	Method, Path, Summary string
}

// Routes lists every operation the handler serves.
func (s *Server) Routes() []RouteInfo {
	out := make([]RouteInfo, len(s.routes))
	for i, r := range s.routes {
		out[i] = RouteInfo{Method: r.method, Path: r.path, Summary: r.summary}
	}
	return out
}
