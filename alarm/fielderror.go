package alarm

// FieldError is a provisioning field the runtime cannot run, with the rule
// it breaks. The REST API refuses a write with it (400 naming Field) and the
// runtime loaders skip a stored document with it: one check for both.
type FieldError struct {
	Field string // dotted path in the document, e.g. "targetEndpoint.destAddr"
	Rule  string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Rule }
