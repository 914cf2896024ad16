package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/edgebridge/edgebridge/store"
)

// Bulk CSV import of devices: /provisioning/device/{domain}/bulk/{bulkId}.
//
// The upload answers 200 as soon as the file is accepted and the job is
// recorded as STARTED; the rows are imported in the background, in
// transactions of bulkBatch devices. Each header column names a device
// property, "a.b.c" for nested ones; cells are typed by the schema (booleans,
// numbers); serviceData.* cells are JSON values. Rows are validated exactly
// like PUT /device; bad rows are reported by line number and field, and the
// good rows are imported anyway.

const (
	bulkBatch      = 2000
	bulkMaxReasons = 50
)

// bulkStatus is the stored job (store.Coll{Domain, "bulk"}).
type bulkStatus struct {
	BulkID    string `json:"bulkId"`
	Domain    string `json:"domain"`
	StartedAt int64  `json:"startedAt"`
	StoppedAt int64  `json:"stoppedAt"`
	Status    string `json:"status"` // STARTED, COMPLETED, FAILED
	Reason    string `json:"reason"`
}

func (s *Server) getBulk(c *call) error {
	id := c.r.PathValue("bulkId")
	b, err := s.db.Get(c.coll("bulk", false), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("bulk", id)
	} else if err != nil {
		return err
	}
	var st bulkStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	return c.ok(map[string]any{"status": st})
}

func (s *Server) postBulk(c *call) error {
	id := c.r.PathValue("bulkId")
	if len(id) > 128 {
		return ferr("bulkId", "must be at most 128 characters")
	}
	raw, err := c.body(maxCSVBody, "text/csv", "application/csv")
	if err != nil {
		return err
	}
	// The header is checked now, so an obviously wrong file is refused at
	// once instead of producing a FAILED job.
	header, err := csv.NewReader(bytes.NewReader(raw)).Read()
	if err != nil {
		return ferr("body", "not a CSV file with a header row: %v", err)
	}
	if _, err := bulkColumns(s.devices.schema, header); err != nil {
		return err
	}
	st := bulkStatus{BulkID: id, Domain: c.domain, StartedAt: nowMillis(), Status: "STARTED"}
	coll := c.coll("bulk", false)
	err = s.db.Update(func(tx *store.Tx) error {
		if b, err := tx.Get(coll, id); err == nil {
			var old bulkStatus
			if json.Unmarshal(b, &old) == nil && old.Status == "STARTED" {
				return errf(409, "bulkId: import %s is still running", id)
			}
		}
		b, _ := json.Marshal(st)
		return tx.Put(coll, id, b)
	})
	if err != nil {
		return err
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer func() {
			// A bug in an import must not take the daemon down with it.
			if p := recover(); p != nil {
				s.log.Error("api: bulk import crashed", "bulkId", id, "panic", p)
				st.Status, st.StoppedAt, st.Reason = "FAILED", nowMillis(), "internal error"
				b, _ := json.Marshal(st)
				_ = s.db.Put(store.Coll{Domain: c.domain, Resource: "bulk"}, id, b)
			}
		}()
		s.runBulk(c.domain, id, raw, st)
	}()
	return c.ok(map[string]any{"bulkId": id})
}

// bulkColumn is one header column: its dotted path and schema.
type bulkColumn struct {
	path   []string
	schema *Schema // nil for free-form serviceData.* (JSON cells)
	json   bool
}

// bulkColumns reads the header against ds, the device schema.
func bulkColumns(ds *Schema, header []string) ([]bulkColumn, error) {
	cols := make([]bulkColumn, len(header))
	seen := map[string]bool{}
	hasID, hasAuth := false, false
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if h == "" {
			return nil, ferr("header", "column %d has no name", i+1)
		}
		if seen[h] {
			return nil, ferr("header", "column %q appears twice", h)
		}
		seen[h] = true
		parts := strings.Split(h, ".")
		for _, p := range parts {
			if p == "" {
				return nil, ferr("header", "column %q: empty path element", h)
			}
		}
		col := bulkColumn{path: parts}
		if parts[0] == "serviceData" && len(parts) > 1 {
			col.json = true
			col.schema = ds.lookup(h) // may be nil: free-form service data
		} else {
			col.schema = ds.lookup(h)
			if col.schema == nil {
				return nil, ferr("header", "column %q is not a device property", h)
			}
			if col.schema.Type == "object" {
				return nil, ferr("header", "column %q is an object; name its properties (%s.x)", h, h)
			}
		}
		hasID = hasID || h == "deviceId"
		hasAuth = hasAuth || h == "authType"
		cols[i] = col
	}
	if !hasID {
		return nil, ferr("header", "deviceId column required")
	}
	if !hasAuth {
		return nil, ferr("header", "authType column required")
	}
	return cols, nil
}

// rowDoc builds the device document of one CSV row.
func rowDoc(cols []bulkColumn, rec []string) (map[string]any, error) {
	doc := map[string]any{}
	for i, cell := range rec {
		col := cols[i]
		if cell == "" {
			continue // an empty cell sets nothing
		}
		name := strings.Join(col.path, ".")
		var v any
		switch {
		case col.json:
			var err error
			if v, err = decodeJSON([]byte(cell)); err != nil {
				return nil, ferr(name, "must be a JSON value (text in \"quotes\")")
			}
		case col.schema.Type == "boolean":
			b, err := strconv.ParseBool(strings.TrimSpace(cell))
			if err != nil {
				return nil, ferr(name, "must be true or false")
			}
			v = b
		case col.schema.Type == "number" || col.schema.Type == "integer":
			if _, err := strconv.ParseFloat(strings.TrimSpace(cell), 64); err != nil {
				return nil, ferr(name, "must be a number")
			}
			v = json.Number(strings.TrimSpace(cell))
		default:
			v = cell
		}
		m := doc
		for _, p := range col.path[:len(col.path)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				if _, clash := m[p]; clash {
					return nil, ferr(name, "conflicts with column %s", p)
				}
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[col.path[len(col.path)-1]] = v
	}
	return doc, nil
}

type bulkRow struct {
	id  string
	doc map[string]any
}

func (s *Server) runBulk(domain, bulkID string, raw []byte, st bulkStatus) {
	res := s.importCSV(domain, raw)
	st.StoppedAt = nowMillis()
	st.Status, st.Reason = res.status(s.ctx.Err() != nil)
	b, _ := json.Marshal(st)
	if err := s.db.Put(store.Coll{Domain: domain, Resource: "bulk"}, bulkID, b); err != nil {
		s.log.Error("api: bulk status not saved", "bulkId", bulkID, "err", err)
	}
	s.log.Info("api: bulk import done", "domain", domain, "bulkId", bulkID, "status", st.Status, "imported", res.imported, "bad", res.bad)
}

type importResult struct {
	rows, imported, bad int
	reasons             []string
	fatal               string
}

func (r *importResult) badRow(line int, err error) {
	r.bad++
	if len(r.reasons) < bulkMaxReasons {
		r.reasons = append(r.reasons, fmt.Sprintf("line %d: %v", line, err))
	}
}

func (r *importResult) status(cancelled bool) (string, string) {
	var b strings.Builder
	switch {
	case r.fatal != "":
		fmt.Fprintf(&b, "%s; ", r.fatal)
	case cancelled:
		b.WriteString("import interrupted by shutdown; ")
	}
	fmt.Fprintf(&b, "imported %d of %d devices", r.imported, r.rows)
	if r.bad > 0 {
		fmt.Fprintf(&b, "; %d rows refused: %s", r.bad, strings.Join(r.reasons, "; "))
		if r.bad > len(r.reasons) {
			fmt.Fprintf(&b, "; and %d more", r.bad-len(r.reasons))
		}
	}
	if r.fatal != "" || cancelled || (r.imported == 0 && r.rows > 0) {
		return "FAILED", b.String()
	}
	return "COMPLETED", b.String()
}

// importCSV validates and stores the rows of a bulk file.
func (s *Server) importCSV(domain string, raw []byte) *importResult {
	res := &importResult{}
	rd := csv.NewReader(bytes.NewReader(raw))
	rd.ReuseRecord = true
	header, err := rd.Read()
	if err != nil {
		res.fatal = "header: " + err.Error()
		return res
	}
	cols, err := bulkColumns(s.devices.schema, header)
	if err != nil {
		res.fatal = err.Error()
		return res
	}
	k := s.devices
	c := &call{s: s, domain: domain}
	coll := store.Coll{Domain: domain, Resource: "device"}
	var batch []bulkRow
	lines := map[string]int{}
	flush := func() {
		if len(batch) == 0 {
			return
		}
		err := s.db.Update(func(tx *store.Tx) error {
			for _, r := range batch {
				var old map[string]any
				if b, err := tx.Get(coll, r.id); err == nil {
					old, _ = decodeDoc(b)
				}
				if _, err := k.finish(c, r.id, r.doc, old); err != nil {
					res.badRow(lines[r.id], err)
					continue
				}
				b, err := json.Marshal(r.doc)
				if err != nil {
					return err
				}
				if err := tx.Put(coll, r.id, b); err != nil {
					return err
				}
				res.imported++
			}
			return nil
		})
		if err != nil {
			res.fatal = "store: " + err.Error()
		}
		batch = batch[:0]
		clear(lines)
	}
	for {
		if s.ctx.Err() != nil {
			break
		}
		rec, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && pe.Err == csv.ErrFieldCount {
				res.rows++
				res.badRow(pe.Line, fmt.Errorf("has %d fields, the header has %d", len(rec), len(cols)))
				continue
			}
			res.fatal = "csv: " + err.Error()
			break
		}
		res.rows++
		line, _ := rd.FieldPos(0) // only valid after a successful Read
		doc, err := rowDoc(cols, rec)
		if err != nil {
			res.badRow(line, err)
			continue
		}
		v, err := k.schema.validate("", doc)
		if err != nil {
			res.badRow(line, err)
			continue
		}
		d := v.(map[string]any)
		id := d["deviceId"].(string)
		if _, dup := lines[id]; dup {
			// The same device twice in one batch: store the earlier row
			// first so that the later one wins, as it would row by row.
			flush()
			if res.fatal != "" {
				break
			}
		}
		lines[id] = line
		batch = append(batch, bulkRow{id: id, doc: d})
		if len(batch) >= bulkBatch {
			flush()
			if res.fatal != "" {
				break
			}
		}
	}
	if res.fatal == "" {
		flush()
	}
	return res
}

// failInterrupted marks imports left STARTED by a previous run (a crash or a
// power cut mid-import) as FAILED, so that no job claims to run forever. The
// rows it committed before the stop are kept.
func (s *Server) failInterrupted() error {
	return s.db.Update(func(tx *store.Tx) error {
		for _, d := range tx.Domains() {
			coll := store.Coll{Domain: d, Resource: "bulk"}
			var stale []bulkStatus
			err := tx.ForEach(coll, "", func(id string, doc []byte) (bool, error) {
				var st bulkStatus
				if json.Unmarshal(doc, &st) == nil && st.Status == "STARTED" {
					stale = append(stale, st)
				}
				return true, nil
			})
			if err != nil {
				return err
			}
			for _, st := range stale {
				st.Status, st.StoppedAt = "FAILED", nowMillis()
				st.Reason = "import interrupted by a restart of the gateway; rows committed before it are kept, upload the file again"
				b, _ := json.Marshal(st)
				if err := tx.Put(coll, st.BulkID, b); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
