package api

import (
	"errors"
	"io"
	"net/http"
	"strconv"
)

// The prompt storage of the media service API: /mediaservice/{domain}/promptfile...

// PromptStore keeps a domain's prompt files (and call recordings).
type PromptStore interface {
	// ListPrompts returns up to limit files after the list token next, and
	// the token of the next page ("" at the end).
	ListPrompts(domain, next string, limit int) ([]PromptFile, string, error)
	// PutPrompt stores an uploaded audio file; its stored size.
	PutPrompt(domain, name string, r io.Reader) (int64, error)
	DeletePrompt(domain, name string) error
	// PromptURL is the path (with its signature) a GET needs no key for,
	// valid for 15 minutes.
	PromptURL(domain, name string) (string, error)
	// DownloadPrompt opens the file a signed URL names, after checking it.
	DownloadPrompt(domain, name, expires, signature string) (io.ReadCloser, int64, error)
}

// PromptFile is one entry of the prompt file list.
type PromptFile struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// Refusal is an error a CallControl or PromptStore implementation returns
// to answer with Status (a 4xx, or 501 for what the gateway cannot do) and
// Reason.
type Refusal struct {
	Status int
	Reason string
}

func (r *Refusal) Error() string { return r.Reason }

// maxPromptBody bounds one uploaded prompt file (the storage quota bounds
// them all together).
const maxPromptBody = 32 << 20

// promptPageSize is how many files one list page holds.
const promptPageSize = 100

var promptTypes = []string{"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "application/octet-stream"}

func (s *Server) promptRoutes() {
	const base = "/mediaservice/{domain}/promptfile"
	tag := "mediaservice prompt files"
	for _, rt := range []*route{
		{method: "GET", path: base, tag: tag, summary: "List the prompt files (and call recordings) of the domain, a page at a time.",
			query: []param{{name: "next", desc: "The next token of the previous page.", schema: str()}},
			resp:  okSchema(opt("next", str()), opt("files", arr(obj(opt("size", num()), opt("name", str()))))), h: s.listPrompts},
		{method: "PUT", path: base + "/{filename}", tag: tag, summary: "Add or replace a prompt file: a WAV of 16-bit PCM, A-law or µ-law at 8 kHz mono (raw .alaw/.ulaw by the name); stored as A-law WAV.",
			body: str().format("binary"), bodyType: "audio/wav", resp: okSchema(), h: s.putPrompt},
		{method: "DELETE", path: base + "/{filename}", tag: tag, summary: "Delete a prompt file.", resp: okSchema(), h: s.deletePrompt},
		{method: "GET", path: base + "/{filename}/url", tag: tag, summary: "A URL to fetch the file without the API key, valid for 15 minutes (served by the gateway).",
			resp: okSchema(opt("url", str()), opt("reason", str()), opt("error", str())), h: s.promptURL},
		{method: "POST", path: base + "/{filename}/move", tag: tag, summary: "Move a prompt file to S3: refused (501), object storage is not reachable from a gateway.",
			body:     obj(req("bucketRegion", str()), req("bucketName", str()), opt("kmsKey", str()), opt("objectKey", str()), req("type", str().enum("s3"))),
			bodyType: jsonType, resp: okSchema(), h: s.movePrompt},
		{method: "GET", path: base + "/{filename}/download", tag: tag, summary: "The file a signed prompt URL names (no API key: the signature is the permission).",
			auth: authNone, query: []param{{name: "expires", desc: "Unix time the URL stops working.", schema: str(), required: true},
				{name: "signature", desc: "The URL's signature.", schema: str(), required: true}},
			resp: str().format("binary"), respType: "audio/wav", ext: "gateway extension: the target of the signed URL", h: s.downloadPrompt},
	} {
		s.add(rt)
	}
}

func (s *Server) prompts() (PromptStore, error) {
	if s.cfg.Prompts == nil {
		return nil, errf(http.StatusServiceUnavailable, "prompt storage is not available: no media service is running")
	}
	return s.cfg.Prompts, nil
}

func promptError(err error) error {
	var r *Refusal
	if errors.As(err, &r) {
		return errf(r.Status, "%s", r.Reason)
	}
	return err
}

func (s *Server) listPrompts(c *call) error {
	p, err := s.prompts()
	if err != nil {
		return err
	}
	files, next, err := p.ListPrompts(c.domain, c.r.URL.Query().Get("next"), promptPageSize)
	if err != nil {
		return promptError(err)
	}
	out := map[string]any{"files": files, "next": nil}
	if next != "" {
		out["next"] = next
	}
	return c.ok(out)
}

func (s *Server) putPrompt(c *call) error {
	p, err := s.prompts()
	if err != nil {
		return err
	}
	if _, err := c.checkType(promptTypes...); err != nil {
		return err
	}
	if c.r.ContentLength > maxPromptBody {
		return errf(http.StatusRequestEntityTooLarge, "body larger than %d bytes", maxPromptBody)
	}
	size, err := p.PutPrompt(c.domain, c.r.PathValue("filename"), http.MaxBytesReader(c.w, c.r.Body, maxPromptBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errf(http.StatusRequestEntityTooLarge, "body larger than %d bytes", maxPromptBody)
		}
		return promptError(err)
	}
	return c.ok(map[string]any{"size": size})
}

func (s *Server) deletePrompt(c *call) error {
	p, err := s.prompts()
	if err != nil {
		return err
	}
	if err := p.DeletePrompt(c.domain, c.r.PathValue("filename")); err != nil {
		return promptError(err)
	}
	return c.ok(nil)
}

func (s *Server) promptURL(c *call) error {
	p, err := s.prompts()
	if err != nil {
		return err
	}
	path, err := p.PromptURL(c.domain, c.r.PathValue("filename"))
	if err != nil {
		return promptError(err)
	}
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	return c.ok(map[string]any{"url": scheme + "://" + c.r.Host + path})
}

func (s *Server) movePrompt(c *call) error {
	if _, err := c.object(); err != nil {
		return err
	}
	return errf(http.StatusNotImplemented, "move: the gateway cannot reach object storage (S3): prompt files stay on the gateway; fetch one with its url and store it yourself")
}

func (s *Server) downloadPrompt(c *call) error {
	p, err := s.prompts()
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	rc, size, err := p.DownloadPrompt(c.domain, c.r.PathValue("filename"), q.Get("expires"), q.Get("signature"))
	if err != nil {
		return promptError(err)
	}
	defer rc.Close()
	c.w.Header().Set("Content-Type", "audio/wav")
	c.w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	c.w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(c.w, rc)
	return nil
}
