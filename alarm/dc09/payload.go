package dc09

import (
	"fmt"
	"strings"
)

// ADMCIDData is the data field of an ADM-CID message (§5.4.6, SIA DC-05
// event in DC-09 form): "#ACCT|QEEE GG CCC", e.g. "#1234|1130 01 015".
func ADMCIDData(account, qualifier, code, group, zone string) (string, error) {
	switch {
	case !isHex(account, 3, 16):
		return "", fmt.Errorf("dc09: ADM-CID account %q: want 3 to 16 hex digits", account)
	case len(qualifier) != 1 || !strings.Contains("136", qualifier):
		return "", fmt.Errorf("dc09: ADM-CID qualifier %q: want 1, 3 or 6", qualifier)
	case len(code) != 3 || !isHex(code, 3, 3):
		return "", fmt.Errorf("dc09: ADM-CID event code %q: want 3 digits", code)
	case len(group) != 2 || !isHex(group, 2, 2):
		return "", fmt.Errorf("dc09: ADM-CID group %q: want 2 digits", group)
	case len(zone) != 3 || !isHex(zone, 3, 3):
		return "", fmt.Errorf("dc09: ADM-CID zone %q: want 3 digits", zone)
	}
	return "#" + account + "|" + qualifier + code + " " + group + " " + zone, nil
}

// sia is the SIA DC-03 event code for a Contact ID event and for its restore.
type sia struct{ event, restore string }

// cidToSIA maps common Contact ID event codes to SIA DC-03 two-letter codes.
// The pairs follow the usual receiver conversion tables (SIA DC-03 Appendix
// and DC-05 code list); codes not listed travel as ADM-CID instead.
var cidToSIA = map[string]sia{
	"100": {"MA", "MH"}, "101": {"QA", "QR"}, "110": {"FA", "FH"}, "111": {"FA", "FH"},
	"120": {"PA", "PH"}, "121": {"HA", "HH"}, "122": {"HA", "HH"}, "123": {"PA", "PH"},
	"130": {"BA", "BH"}, "131": {"BA", "BH"}, "132": {"BA", "BH"}, "133": {"BA", "BH"},
	"134": {"BA", "BH"}, "137": {"TA", "TR"}, "144": {"TA", "TR"}, "150": {"UA", "UH"},
	"301": {"AT", "AR"}, "302": {"YT", "YR"}, "350": {"YC", "YK"}, "401": {"OP", "CL"},
	"570": {"BB", "BU"}, "602": {"RP", "RP"}, "606": {"LF", "LF"}, "641": {"QT", "QR"},
}

// SIAData is the data field of a SIA-DCS message carrying one SIA DC-03
// event: "#ACCT|Nri<area>/<code><zone>", e.g. "#1234|Nri0/QA05"; zone may be
// empty.
func SIAData(account, area, code, zone string) (string, error) {
	switch {
	case !isHex(account, 3, 16):
		return "", fmt.Errorf("dc09: SIA-DCS account %q: want 3 to 16 hex digits", account)
	case len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z':
		return "", fmt.Errorf("dc09: SIA event code %q: want two capital letters", code)
	case area == "" || len(area) > 3 || !isDigits(area):
		return "", fmt.Errorf("dc09: SIA area %q: want 1 to 3 digits", area)
	case len(zone) > 4 || !isDigits(zone):
		return "", fmt.Errorf("dc09: SIA zone %q: want up to 4 digits", zone)
	}
	return "#" + account + "|Nri" + area + "/" + code + zone, nil
}

// SIADCSData is the data field of a SIA-DCS message for a Contact ID event:
// "#ACCT|Nri<group>/<code><zone>", e.g. "#1234|Nri1/BA015" (SIA DC-03 new
// event block with area and zone). It fails for codes without a SIA equivalent.
func SIADCSData(account, qualifier, code, group, zone string) (string, error) {
	if _, err := ADMCIDData(account, qualifier, code, group, zone); err != nil {
		return "", err
	}
	s, ok := cidToSIA[code]
	if !ok {
		return "", fmt.Errorf("dc09: Contact ID event %s has no SIA DC-03 code here; send it as ADM-CID", code)
	}
	c := s.event
	if qualifier == "3" {
		c = s.restore
	}
	g := strings.TrimLeft(group, "0")
	if g == "" {
		g = "0"
	}
	return SIAData(account, g, c, zone)
}
