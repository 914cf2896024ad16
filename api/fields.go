package api

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// The field table: every field of every provisioned resource in one of
// three states, so that nothing is accepted and then ignored.
//
//   - read by the runtime: the note says where;
//   - platform only: kept so that a document of the cloud platform can be
//     written back unchanged, with no effect on this gateway (the note says
//     why; README lists these fields);
//   - refused: the API answers 400 naming the field and the rule for the
//     values the gateway cannot honour (every value, or those refuse picks).
//
// TestFieldTable checks that the table covers exactly the fields of the
// schemas, that each refused value is refused over REST, that each field
// read by the runtime is a field of the runtime's struct, and that
// api/FIELDS.md (generated from this table) is current.

type fieldState string

const (
	stateRuntime  fieldState = "read by the runtime"
	statePlatform fieldState = "platform only"
	stateRefused  fieldState = "refused"
)

type fieldUse struct {
	state fieldState
	note  string
	// refuse, for stateRefused: the values refused (nil: every value).
	refuse func(v any) bool
	// sample, for refusedIf: a value the API must refuse (tests; for
	// refused, one is made from the field's schema).
	sample any
}

func reads(where string) fieldUse  { return fieldUse{state: stateRuntime, note: where} }
func platform(why string) fieldUse { return fieldUse{state: statePlatform, note: why} }
func refused(rule string) fieldUse { return fieldUse{state: stateRefused, note: rule} }
func refusedIf(rule string, sample any, refuse func(v any) bool) fieldUse {
	return fieldUse{state: stateRefused, note: rule, refuse: refuse, sample: sample}
}
func is(x any) func(v any) bool { return func(v any) bool { return v == x } }

// isNumber matches the number x, as the API decodes it (json.Number) or
// as a sample holds it.
func isNumber(x float64) func(v any) bool {
	return func(v any) bool {
		switch n := v.(type) {
		case json.Number:
			f, err := n.Float64()
			return err == nil && f == x
		case float64:
			return n == x
		}
		return false
	}
}

// fieldResources are the documents the table covers, with their schemas.
func fieldResources() map[string]*Schema {
	return map[string]*Schema{
		"device": deviceSchema(), "trunk": trunkSchema(), "trustednetwork": trustedNetworkSchema(),
		"alarmbridge": alarmbridgeSchema(), "alarmeventmapper": alarmEventMapperSchema(),
		"mediaservice": mediaServiceSchema(), "cloudsipua": cloudSipUASchema(),
		"notificationsettings": notificationSettingsSchema(), "siprecservice": notificationSchema(),
		"profile": profileSchema(true), "apiKey": apiKeySchema(),
		"user": userSchema(), "group": groupSchema(), "limit": limitSchema(),
	}
}

const (
	noSIPREC = "the gateway has no SIPREC recorder client: nothing would be recorded"
	label    = "a label for people; the gateway's behaviour does not depend on it"
)

// restAuthUses is restAuthentication of a resource whose callbacks the
// gateway signs (reader: where its list is read).
func restAuthUses(reader string) map[string]fieldUse {
	at := "delivery.CheckRestAuth on write, " + reader
	return map[string]fieldUse{
		"restAuthentication[].type":           reads(at + ": the JWT algorithm (RS256; HS256 for stored documents of older versions)"),
		"restAuthentication[].secret":         reads(at + ": the signing key (PEM RSA private key, 2048+ bits); never returned by GET"),
		"restAuthentication[].sub":            reads(reader + ": the JWT sub claim"),
		"restAuthentication[].scope":          reads(reader + ": the JWT scope claim"),
		"restAuthentication[].requestHeaders": reads(reader + ": headers sent with the signed request"),
	}
}

func refusedAll(rule string, names ...string) map[string]fieldUse {
	m := map[string]fieldUse{}
	for _, n := range names {
		m[n] = refused(rule)
	}
	return m
}

func mergeUses(ms ...map[string]fieldUse) map[string]fieldUse {
	out := map[string]fieldUse{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// fieldTable: resource -> dotted field ("[]" for the items of an array).
var fieldTable = map[string]map[string]fieldUse{
	"device": {
		"deviceId":            reads("engine registrar and call auth (digest user, deviceid whitelist); alarm/service Router.Authenticate (DeviceKey)"),
		"authType":            reads("engine authenticate: credentials digest, deviceid whitelist, userid JWT"),
		"password":            reads("engine digest (SIP password) and userid; api prepareDevice makes ha1 from it"),
		"ha1":                 reads("engine digest: MD5(deviceId:domain:password)"),
		"deviceCLI":           reads("alarm/service Router.Authenticate: the device whose CLI is the caller"),
		"srtp":                reads("engine B2BUA: SRTP on this device's legs (acceptPolicy as caller, offerPolicy as callee)"),
		"deviceType":          platform("the platform's console groups devices by it; this gateway treats a device by its authType and serviceData"),
		"description":         platform(label),
		"lastConfigured":      reads("api grandstream download stamps it; kept across writes"),
		"macAddress":          reads("api grandstream download: the device whose MAC the ATA asks for"),
		"heartbeatStatus":     reads("written by alarm/service heartbeat supervision (read-only to clients)"),
		"heartbeatExpiration": reads("written by alarm/service heartbeat supervision (read-only to clients)"),
		"authorized.domain":   reads("engine registrar: the domain a userid device may register in"),
		"authorized.invite":   reads("engine inviteAllowed: destinations a userid device may call"),
		"authorized.register": reads("engine registrar: whether a userid device may register"),
		"serviceData.alarmBridge.heartbeatInterval":                    reads("alarm/service heartbeat supervision: the device's interval"),
		"serviceData.alarmBridge.alarmProtocol":                        reads("alarm/service Router.DeviceProtocol: the protocol of this device's calls to a deviceProvisioned alarmbridge"),
		"serviceData.alarmBridge.emergencyDestination":                 reads("alarm/service Router.Map: the voice destination for callEmergencyCenter"),
		"serviceData.alarmBridge.usePredefinedDestination":             reads("alarm/service Router.Map: switches callEmergencyCenter and usePredefinedDestination"),
		"serviceData.alarmBridge.overrideInAlarmEvent.deviceType":      reads("alarm/service applyOverride"),
		"serviceData.alarmBridge.overrideInAlarmEvent.controllerId":    reads("alarm/service applyOverride"),
		"serviceData.alarmBridge.overrideInAlarmEvent.deviceComponent": reads("alarm/service applyOverride"),
		"serviceData.alarmBridge.overrideInAlarmEvent.systemConfig":    reads("alarm/service applyOverride"),
		"serviceData.alarmBridge.overrideInAlarmEvent.location":        reads("alarm/service applyOverride"),
		"serviceData.alarmBridge.overrideInAlarmEvent.audio":           reads("alarm/service applyOverride"),
		"serviceData.alarmBridge.overrideInAlarmEvent.priority":        reads("alarm/service applyOverride"),
		"serviceData.alarmBridge.overrideInAlarmEvent.deviceId":        reads("alarm/service applyOverride"),
		"serviceData.alarmBridge.overrideInAlarmEvent.statusCode":      reads("alarm/service applyOverride"),
	},
	"trunk": {
		"destinationTarget":           reads("engine trunk.target: Request-URI host[:port]"),
		"destinationTransport":        reads("engine trunk.transport: udp, tcp or tls (engine.Trunk.Validate)"),
		"destinationMatch":            reads("engine trunkSet.outbound: which called numbers go out this trunk"),
		"destinationRewrite":          reads("engine trunkSet.outbound: /pattern/replacement/ on the called number"),
		"blacklistPattern":            reads("engine trunkSet.outbound: called numbers refused on this trunk"),
		"rewriteAnumber":              reads("engine trunkSpec: the From number"),
		"diversionHeader":             reads("engine trunkSpec: Diversion header (RFC 5806)"),
		"addTerminatingUriParameters": reads("engine trunkSpec: Request-URI parameters"),
		"trunkGroupId":                reads("engine trunkSpec: tgrp and trunk-context (RFC 4904)"),
		"sourceNetworks":              reads("engine trunk.fromNetwork: which sources are this trunk"),
		"localCodec":                  reads("engine bridgeToTrunk: the codec toward the caller (PCMU, PCMA; GSM refused by engine.Trunk.Validate: no GSM 06.10 codec)"),
		"trunksideCodec":              reads("engine trunkSpec: the codec toward the trunk (PCMU, PCMA; GSM refused by engine.Trunk.Validate: no GSM 06.10 codec)"),
		"transcode":                   reads("engine bridgeToTrunk: transcode between localCodec and trunksideCodec"),
		"forceNatRewrites":            reads("engine trunkSpec: rewrite Contact/Via toward the trunk"),
		"forceRtpRelay":               platform("the gateway relays RTP on every call (B2BUA with media anchored), so the platform's switch changes nothing here"),
		"usePrivateIP":                platform("the platform picks its public or private address toward the trunk; the gateway always uses the address of its own interface"),
		"networkId":                   platform("the platform's RTP routing between its networks; the gateway anchors all media itself"),
		"userName":                    reads("engine trunkSet.register and trunkSpec: digest user"),
		"password":                    reads("engine digest toward the trunk (never returned by GET)"),
		"ha1":                         reads("engine digest toward the trunk"),
		"realm":                       reads("api prepareTrunk: ha1 = MD5(userName:realm:password)"),
		"description":                 platform(label),
		"type":                        reads("api prepareTrunk: always \"trunk\""),
		"register":                    reads("engine trunkSet.registerLoop: register upstream"),
		"registerInterval":            reads("engine trunkSet.registerLoop: REGISTER expiry"),
		"keepAlive":                   reads("engine trunkSet.keepAliveLoop: OPTIONS keep-alive"),
		"keepAliveInterval":           reads("engine trunkSet.keepAliveLoop: OPTIONS interval"),
		"concurrency":                 reads("engine trunk.acquire: most concurrent calls"),
		"didNumbers":                  reads("engine trunk.ownsDID: numbers this trunk takes in"),
		"outboundServer":              reads("engine trunk.nextHop: outbound proxy"),
		"outboundServerPort":          reads("engine trunk.nextHop: outbound proxy port"),
		"srtp":                        reads("engine B2BUA: SRTP toward the trunk (offerPolicy; unset is off) and accepted from it"),
	},
	"trustednetwork": {
		"network":     reads("engine StoreDirectory.TrustedNetworks: sources that need no digest"),
		"description": platform(label),
		"id":          reads("api: the document id"),
	},
	"alarmbridge": mergeUses(restAuthUses("delivery StoreResolver.callback (callbackBaseUrl)"), map[string]fieldUse{
		"id":                              reads("gateway routes: the engine route alarmbridge/<id>; events carry it"),
		"name":                            platform(label),
		"description":                     platform(label),
		"protocol":                        reads("alarm/multi ForBridge: the receiver of the call; gateway voiceCallAlarm (voicecall), PostAlarmEvent (api), nowipMessage and nowipCallBack (nowip, nowipcontroller: alarm/nowip)"),
		"protocolMode":                    reads("alarm/multi ForBridge: dtmf or sdmf for TT92"),
		"fallbackAlarmProtocol":           reads("alarm/multi ForBridge: the protocol multiprotocol offers first"),
		"destinationMatch":                reads("alarm.AlarmBridge.Validate, gateway routes: which called numbers this bridge takes"),
		"alarmEventMapperId":              reads("alarm/service Router.Map: the event mapper"),
		"defaultHeartbeatInterval":        reads("alarm/service heartbeat supervision"),
		"customerSiteId":                  reads("alarm/service Router.Authenticate: the device key"),
		"customEventMap":                  reads("alarm/service applyCustomEventMap"),
		"defaultEmergencyDestination":     reads("alarm/service Router.Map: the voice destination for callEmergencyCenter"),
		"dataRequestInterval":             reads("alarm/multi ForBridge: the BS 8521 data request interval"),
		"callbackBaseUrl":                 reads("delivery StoreResolver.callback: POST {callbackBaseUrl}/newAlarmbridgeEvent; the alarm session's recordingReady and callEvent (mediaservice AlarmSession) go under it too"),
		"callbackTimeout":                 reads("delivery StoreResolver.callback: the callback's timeout"),
		"callbackId":                      platform("the platform's handle of its callback resource"),
		"callbackName":                    platform(label),
		"callbackDescription":             platform(label),
		"toneSettings.dtmfSendType":       reads("gateway legDTMF: the DTMF of each leg (unit, ARC voice call) that has no setting of its own"),
		"toneSettings.calleeDtmfSendType": reads("gateway legDTMF, dialVoice: the ARC voice call offers telephone-event (2833) or not (inaudio: keys relayed to it are played in band)"),
		"toneSettings.callerDtmfSendType": reads("gateway legDTMF, alarm routes (engine Route.DTMF): the unit's SIP leg answers with telephone-event (2833) or without (inaudio: keys to it in band, its keys detected in band); the FXS line is in band always"),
		"useVPNConnection":                refusedIf("true is not honoured: the gateway has no VPN of its own and always uses the addresses of its interfaces", true, is(true)),
		"controlCommandsEnabled":          reads("gateway DeviceCommand, HangupAlarmCall: false refuses devicecommand and hangupalarmcall with clear (409 naming the field); gateway voiceBridge (SIP units: alarm calls, SCAIP/NOW-IP voice, voicecall): false takes the gateway out of the voice call's media once the voice destination answers (engine.DirectMedia: both legs re-INVITEd with the other's SDP, the gateway's RTP released; the signalling stays), unless SRTP, codec or key-press conversion, NAT, a recording or a refused re-INVITE keeps it in the path; FXS line: the gateway is the only media path, false only refuses the commands"),
		"arcDisconnectClearsCall":         reads("gateway bridgeVoice and alarmLineCall: when the ARC hangs up first, the unit (SIP or FXS) gets the clear-down key before its call ends"),
	}),
	"alarmeventmapper": {
		"id":                                           reads("alarm/service Router.Map: events carry it (MapperID); delivery route name"),
		"name":                                         platform(label),
		"description":                                  platform(label),
		"alarmHandling":                                reads("alarm/service Router.Map: what follows the event"),
		"deviceIdPadLength":                            reads("alarm/service Router.Map (mapDeviceIdToControllerId)"),
		"controllerIdPadLength":                        reads("alarm/service Router.Map (mapDeviceIdToControllerId)"),
		"mapDeviceIdToControllerId":                    reads("alarm/service Router.Map"),
		"mappingRules":                                 reads("alarm/service applyCustomEventMap"),
		"unknownAlarmEventVoiceDestination":            reads("alarm/service Router.UnknownEventDestination"),
		"callerId":                                     reads("alarm/service Router.Map: the event's callerId"),
		"useVoiceBridge":                               reads("alarm/service Router.Map: false clears the call after the event"),
		"enableDestinationMonitoring":                  reads("delivery MapperRoute: both paths probed"),
		"fromDomain":                                   refused("not honoured yet: the gateway does not rewrite the From domain toward the ARC"),
		"waitForCallback":                              reads("gateway scaipCallbackMinutes: with alarmHandling requestCallback, the cre (minutes) of the answers to SCAIP units, which keep them reachable for the ARC's call back"),
		"maxSessionDuration":                           reads("gateway sessionLimit (alarm calls SIP and FXS, SCAIP voice, voicecall): seconds an alarm session (alarm and voice bridge) may last; then the unit gets its protocol's clear-down and both legs end; 0 or absent: no limit"),
		"targetEndpoint.protocol":                      reads("delivery StoreResolver and MapperRoute: the sender (dc09, scaip, http, https)"),
		"targetEndpoint.destAddr":                      reads("delivery MapperRoute: the ARC address"),
		"targetEndpoint.sipAuthUser":                   reads("delivery MapperRoute: SCAIP digest user"),
		"targetEndpoint.sipAuthPassword":               reads("delivery MapperRoute: SCAIP digest password"),
		"targetEndpoint.overrideSipFrom":               reads("delivery MapperRoute: SCAIP From"),
		"targetEndpoint.defaultVoiceDestination":       reads("alarm/service Router.Map: the voice destination"),
		"targetEndpoint.backupEndpoint.backupDestAddr": reads("delivery MapperRoute: the backup ARC address"),
		"targetEndpoint.backupEndpoint.backupSipAuthUser":             reads("delivery MapperRoute: backup SCAIP digest user"),
		"targetEndpoint.backupEndpoint.backupSipAuthPassword":         reads("delivery MapperRoute: backup SCAIP digest password"),
		"targetEndpoint.backupEndpoint.backupOverrideSipFrom":         reads("delivery MapperRoute: backup SCAIP From"),
		"targetEndpoint.backupEndpoint.backupDefaultVoiceDestination": reads("gateway bridgeVoice and scaipVoiceCall: dialled when the voice destination cannot be reached"),
	},
	"mediaservice": mergeUses(restAuthUses("the gateway's mediaservice hook (every callback of the service)"), map[string]fieldUse{
		"destinationMatch":       reads("the gateway's mediaservice Routes: the switchboard's media service stage takes SIP calls whose called number fits it"),
		"callbackBaseUrl":        reads("the gateway's mediaservice hook: newCall, getCallIdentifier, getIvrCommand, callAnswered, callEvent, callNotify, recordingReady, sessionCompleted are POSTed under it (https, or http to loopback)"),
		"callbackTimeout":        reads("the gateway's mediaservice hook: the time of one callback, retries included (ms; default 15000)"),
		"rtpTimeout":             reads("the gateway's mediaservice Routes: the engine ends a participant silent this long (s; default 90)"),
		"name":                   platform(label),
		"description":            platform(label),
		"callbackName":           platform(label),
		"callbackDescription":    platform(label),
		"callbackId":             platform(label),
		"id":                     reads("api: the document's id; the route name mediaservice/{id} in call records"),
		"googleApikey":           refused("not honoured: cloud text to speech cannot run on a gateway (phrases play prompt files)"),
		"googleServiceKey":       refused("not honoured: cloud text to speech cannot run on a gateway (phrases play prompt files)"),
		"disableLateOffer":       refusedIf("false is not honoured: the gateway's outbound calls always carry their SDP offer in the INVITE (set true or leave it out)", false, is(false)),
		"ivrRefresherExpiration": refused("not honoured yet: the media service does not ask to refresh the session; the engine's session timer applies"),
		"replySessionExpiration": refused("not honoured yet: the media service's outbound calls carry the engine's Session-Expires"),
		"offeredCodecs":          refused("not honoured yet: an INVITE without SDP is offered the engine's codecs (PCMA, PCMU)"),
		"networkId":              refused("not honoured: a gateway has one network; calls use the addresses of its interfaces"),
	}),
	"cloudsipua": mergeUses(restAuthUses("the gateway's cloud SIP UA hook (newRemoteCall, callAnswered, callEvent, sessionCompleted)"), map[string]fieldUse{
		"destinationMatch":    reads("the gateway's mediaservice RemoteRoutes: the switchboard's cloud SIP UA stage takes SIP calls whose called number fits it (newRemoteCall)"),
		"callbackBaseUrl":     reads("the gateway's cloud SIP UA hook: newRemoteCall, callAnswered, callEvent, sessionCompleted are POSTed under it (https, or http to loopback); placeremotecall may name another"),
		"callbackTimeout":     reads("the gateway's cloud SIP UA hook: the time of one callback, retries included (ms; default 15000)"),
		"id":                  reads("api: the document's id; the route name cloudsipua/{id} in call records"),
		"name":                platform(label),
		"description":         platform(label),
		"callbackName":        platform(label),
		"callbackDescription": platform(label),
		"callbackId":          platform(label),
	}),
	"notificationsettings": mergeUses(restAuthUses("delivery StoreResolver.callback and the gateway's notify.Notifier (the endpoints below)"), map[string]fieldUse{
		"alarmbridgeCallbackEndpoint": reads("delivery StoreResolver.callback: every alarmbridge's callback goes here"),
		"httpTimeout":                 reads("delivery StoreResolver.callback: each callback attempt's timeout; notify.Notifier: one notification's total time, three retries included"),
		"sipEventsRestEndpoint":       reads("notify.Notifier: SIP events (registration, unregistration, callStart, callAnswer, callEnd) POSTed here"),
		"alarmEventsRestEndpoint":     reads("notify.Notifier: service alarms (heartbeat lost or back, ARC path down or up, event given up) POSTed here"),
		"useHttpEvents":               refusedIf("false is not honoured: the gateway has no SNS client, its notifications are HTTP", false, is(false)),
		"alarmTopic":                  refused("not honoured: the gateway has no AWS SNS client (use alarmEventsRestEndpoint)"),
		"sipEventsTopic":              refused("not honoured: the gateway has no AWS SNS client (use sipEventsRestEndpoint)"),
		"callCaptureRtpSeconds":       reads("engine captureFor (gateway extension): each call leg's RTP for the first N seconds, merged into its pcap; 0 (default) off"),
	}),
	"siprecservice": refusedAll(noSIPREC, "restAuthentication[].type", "restAuthentication[].secret", "restAuthentication[].sub",
		"restAuthentication[].scope", "restAuthentication[].requestHeaders", "alarmTopic", "httpTimeout", "sipEventsTopic", "useHttpEvents",
		"alarmEventsRestEndpoint", "sipEventsRestEndpoint", "alarmbridgeCallbackEndpoint"),
	"profile": {
		"firstName": platform("the platform's user account"), "lastName": platform("the platform's user account"),
		"emailConsent": platform("the platform's user account"), "phone": platform("the platform's user account"),
		"company": platform("the platform's user account"), "email": platform("the platform's user account"),
		"authProvider": platform("the platform's sign-up"), "otherInfo": platform("the platform's sign-up"),
		"useCase": platform("the platform's sign-up"), "termsAgreed": platform("the platform's sign-up"),
		"profileReviewed": platform("the platform's sign-up"), "deploymentSize": platform("the platform's sign-up"),
	},
	"apiKey": {
		"key": reads("api authenticator: a token (hash kept) or an RS256 public key verifying JWT bearer tokens"),
	},
	"user": {
		"id":              reads("api: the document id; groups name their members by it"),
		"user":            reads("engine extensionPlan: the device whose registrations the extension rings"),
		"extensionNumber": reads("engine extensionPlan: the number that rings the user's device (before trunks)"),
		"displayName":     platform(label),
		"email":           platform(label),
		"firstName":       platform(label),
		"lastName":        platform(label),
		"jobName":         platform(label),
		"departmentName":  platform(label),
		"companyName":     platform(label),
		"officeName":      platform(label),
		"password":        refused("not taken here: the user's credentials are those of its device (/provisioning/device, authType credentials)"),
		"pin":             refused("not honoured: the gateway has no hot desking"),
		"hotdeskAllowed":  refused("not honoured: the gateway has no hot desking"),
		"mobileNumber":    reads("engine userPlan, mobileLeg: missed calls to the user's own extension go to this number through the trunk whose destinationMatch takes it (group calls never do)"),
		"mobileFollow":    reads("engine User.forwardsToMobile: 0 keeps mobileNumber but forwards nothing; unset or 1 forwards"),
		"ringSecs":        reads("engine userPlan (extension): how long the user's devices ring before a missed call goes to mobileNumber"),
		"ukCallerId":      refused("not honoured: calls out through a trunk carry the trunk's caller id rules (rewriteAnumber)"),
		"usCallerId":      refused("not honoured: calls out through a trunk carry the trunk's caller id rules (rewriteAnumber)"),
		"ukPhoneId":       refused("not honoured: phones are provisioned as devices"),
		"usPhoneId":       refused("not honoured: phones are provisioned as devices"),
		"dashboard":       refused("not honoured: the gateway has no real-time dashboard"),
	},
	"group": {
		"id":                  reads("api: the document id"),
		"groupName":           reads("engine groupPlan: named in refusals; {dgrpName} of callerNameFormat"),
		"displayName":         reads("engine Group.callerName: {displayName} of callerNameFormat"),
		"extensionNumber":     reads("engine extensionPlan: the number that rings the group (before trunks)"),
		"ringStrategy":        reads("engine groupPlan: all (every member at once) or huntLongestIdle (longest idle first)"),
		"ringSecs":            reads("engine groupPlan: how long a member (hunt) or a round (all) rings"),
		"ringAttempts":        reads("engine groupPlan: rounds through the members"),
		"callerNameFormat":    reads("engine Group.callerName: the caller name the members see"),
		"members[].userId":    reads("engine StoreDirectory.Extension: the member users"),
		"members[].ringOrder": reads("engine groupPlan: order among members, lowest first"),
		"ringExclusive":       reads("engine dialQueued: 1 queues the group's calls, with ringback, until a member is free"),
		"ringRetry":           refusedIf("1 is not honoured: ring attempts are set by ringAttempts", float64(1), isNumber(1)),
	},
	"limit": {
		"category": reads("engine StoreDirectory.Limits: which limit (voice_call_session, device_call_session, call_rate_per_source; api_limit and devices refused)"),
		"quantity": reads("engine admitLimits: the limit, 503 with Retry-After beyond it"),
	},
}

// refuseFields answers 400 for the first field of doc (a document of
// resource) whose value the table refuses.
func refuseFields(resource string, doc map[string]any) error {
	uses := fieldTable[resource]
	names := make([]string, 0, len(uses))
	for n, u := range uses {
		if u.state == stateRefused {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		u := uses[n]
		var err error
		eachValue(doc, "", strings.Split(n, "."), func(path string, v any) {
			if err == nil && (u.refuse == nil || u.refuse(v)) {
				err = ferr(path, "%s", u.note)
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// eachValue calls fn with every value at the dotted parts below v (an
// "x[]" part goes into each item of the array x).
func eachValue(v any, path string, parts []string, fn func(path string, v any)) {
	if len(parts) == 0 {
		fn(path, v)
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	name, isArr := strings.CutSuffix(parts[0], "[]")
	x, ok := m[name]
	if !ok {
		return
	}
	p := join(path, name)
	if !isArr {
		eachValue(x, p, parts[1:], fn)
		return
	}
	items, _ := x.([]any)
	for i, it := range items {
		eachValue(it, fmt.Sprintf("%s[%d]", p, i), parts[1:], fn)
	}
}

// schemaFields lists the dotted fields of an object schema as the table
// names them: leaves, with "[]" for arrays of objects.
func schemaFields(s *Schema) []string {
	var out []string
	var walk func(p string, s *Schema)
	walk = func(p string, s *Schema) {
		switch {
		case s.Type == "array" && s.Items != nil && len(s.Items.Properties) > 0:
			walk(p+"[]", s.Items)
		case s.Type == "object" && len(s.Properties) > 0:
			for k, v := range s.Properties {
				walk(join(p, k), v)
			}
		default:
			out = append(out, p)
		}
	}
	walk("", s)
	sort.Strings(out)
	return out
}

// fieldsMarkdown renders the table as api/FIELDS.md.
func fieldsMarkdown() string {
	var b strings.Builder
	count := map[fieldState]int{}
	res := make([]string, 0, len(fieldTable))
	for r, uses := range fieldTable {
		res = append(res, r)
		for _, u := range uses {
			count[u.state]++
		}
	}
	sort.Strings(res)
	fmt.Fprintf(&b, "# Every field of every resource\n\n")
	fmt.Fprintf(&b, "Generated from the field table in `api/fields.go` (`go test ./api -run TestFieldTable -update-fields`);\n")
	fmt.Fprintf(&b, "a test fails when this file, the table or the schemas disagree.\n\n")
	fmt.Fprintf(&b, "Each field is in one of three states:\n\n")
	fmt.Fprintf(&b, "- **%s**: the note says where;\n", stateRuntime)
	fmt.Fprintf(&b, "- **%s**: stored so that the cloud platform's documents can be written back, with no effect on the gateway (the note says why);\n", statePlatform)
	fmt.Fprintf(&b, "- **%s**: a write carrying the value is answered 400 naming the field and the rule.\n\n", stateRefused)
	fmt.Fprintf(&b, "Counts: %d fields, %d %s, %d %s, %d %s.\n", count[stateRuntime]+count[statePlatform]+count[stateRefused],
		count[stateRuntime], stateRuntime, count[statePlatform], statePlatform, count[stateRefused], stateRefused)
	for _, r := range res {
		fmt.Fprintf(&b, "\n## %s\n\n| field | state | where / why |\n|---|---|---|\n", r)
		uses := fieldTable[r]
		names := make([]string, 0, len(uses))
		for n := range uses {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			u := uses[n]
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", n, u.state, strings.ReplaceAll(u.note, "|", "\\|"))
		}
	}
	return b.String()
}
