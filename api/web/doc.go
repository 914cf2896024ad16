// Package web is the installer's web page: plain HTML, CSS and a small
// amount of JavaScript embedded in the binary (no build step, no framework,
// nothing fetched from the internet), served at / on the same address as
// the REST API.
//
// The page is a client of the REST API and nothing else: the installer
// signs in with the admin key or a domain key, which the page keeps in
// sessionStorage (gone when the tab closes) and sends as
// "Authorization: Bearer KEY" on every call. There is no cookie, so a
// cross-site request carries no credentials, and the API keeps refusing
// requests without the header. The page's Content-Security-Policy allows
// scripts, styles and connections from its own origin only and no inline
// script, so injected markup cannot run.
//
// Forms are generated from the request schemas of /openapi.json, the same
// schemas that validate the requests, so a field the API accepts is a field
// the page shows; a refusal's reason ("field.path: rule") is shown next to
// the field it names. A provisioning resource of /openapi.json the page's
// own table does not name (a collection with GET and POST whose items take
// PUT) gets a list and a form all the same. What it shows live comes from
// /gateway/events.
//
// # What it may import
//
// The standard library only. It knows the REST API by its paths, not its
// code: Handler takes the API as an http.Handler.
//
// # Seams
//
// Handler(api) serves GET / and /ui/... (the page, with its
// Content-Security-Policy) and passes everything else to api; cmd wraps the
// daemon's API handler with it for --http and --https.
package web
