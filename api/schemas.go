package api

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/edgebridge/edgebridge/engine"
)

// The provisioning schemas, transcribed from the cloud platform's provisioning API document, kept as testdata/api/seed000_provisioning.txt (field names, enums,
// patterns, bounds, defaults, required fields). Where the document's HTML
// rendering hid a nested table, the fields come from its samples and the
// values there are documented, not guessed into enums.

func restAuthentication() *Schema {
	return arr(obj(
		opt("sub", str()),
		opt("requestHeaders", anyObj()),
		opt("scope", str()),
		opt("secret", str().desc("RS256: the PEM RSA private key (2048+ bits) that signs the callbacks. Never returned by GET; left out on a write, the stored one is kept.")),
		opt("type", str().enum("RS256")),
	))
}

// deviceIDPattern is idPattern: a device id is a path id elsewhere.
var deviceIDPattern = idPattern

func deviceSchema() *Schema {
	return obj(
		req("deviceId", str().pattern(deviceIDPattern).desc("Unique id identifying the device.")),
		req("authType", str().enum("credentials", "deviceid", "userid").desc("Authentication type: credentials (SIP digest), deviceid (whitelist), userid (JWT).")),
		opt("deviceType", str().enum("sipDevice", "alarmbridgeConnect", "groupScheme", "alarmUnit")),
		opt("lastConfigured", num().desc("Timestamp (ms) of the last configuration download by MAC.")),
		opt("macAddress", str()),
		opt("password", str().desc("Mandatory for authType userid. Never returned by GET.").
			extNote("with authType credentials and no ha1 it sets the SIP password (ha1 = MD5(deviceId:domain:password)) instead of a generated one")),
		opt("authorized", obj(
			opt("domain", str()),
			opt("invite", regex()),
			opt("register", boolean()),
		).desc("Used with authType userid.")),
		opt("serviceData", obj(
			opt("alarmBridge", obj(
				opt("heartbeatInterval", num()),
				opt("alarmProtocol", str().enum("bs8521", "tt92", "ttnew", "multiprotocol").ext("contactid: Ademco Contact ID (SIA DC-05) over DTMF (gateway extension)", "contactid")),
				opt("emergencyDestination", str()),
				opt("overrideInAlarmEvent", obj(
					opt("deviceType", str()),
					opt("controllerId", str()),
					opt("deviceComponent", str()),
					opt("systemConfig", str()),
					opt("location", str()),
					opt("audio", str()),
					opt("priority", num()),
					opt("deviceId", str()),
					opt("statusCode", str()),
				)),
				opt("usePredefinedDestination", boolean()),
			)),
		).desc("Service specific settings for a device.")),
		opt("description", str().maxLen(200)),
		opt("ha1", str().pattern(`^[0-9a-fA-F]{32}$`).extNote("stricter than the provisioning schema: an MD5 hex digest, so a typo cannot lock the device out").desc("SIP HA1 = MD5(deviceId:domain:password), used with authType credentials.")),
		opt("deviceCLI", str()),
		opt("srtp", srtpSetting()),
		opt("heartbeatStatus", str().readOnly().desc("Filled by heartbeat supervision.")),
		opt("heartbeatExpiration", num().readOnly().desc("Filled by heartbeat supervision (ms).")),
	)
}

func trunkSchema() *Schema {
	return obj(
		req("destinationTarget", str().desc("An IP/FQDN pointing at Target domain for trunk.")),
		opt("localCodec", str().enum("GSM", "PCMU", "PCMA")),
		req("destinationTransport", str().desc("udp, tcp or tls.")),
		opt("sourceNetworks", &Schema{AnyOf: []*Schema{arr(ipv4OrCIDR()), ipv4OrCIDR()}, Description: "A list of either cidr or IPv4."}),
		opt("addTerminatingUriParameters", str()),
		opt("trunkGroupId", str()),
		opt("usePrivateIP", boolean()),
		req("destinationMatch", regex()),
		opt("transcode", boolean()),
		opt("description", str()),
		opt("type", str().enum("trunk").def("trunk")),
		opt("userName", str()),
		opt("destinationRewrite", str().desc("/pattern/replacement/ applied to the destination user (\\1 or $1 for groups), e.g. /^0/+44/.")),
		opt("trunksideCodec", str().enum("GSM", "PCMU", "PCMA")),
		opt("forceRtpRelay", boolean()),
		opt("password", str().desc("With userName and realm: generates ha1. Never returned by GET.")),
		opt("forceNatRewrites", boolean()),
		opt("diversionHeader", str()),
		opt("rewriteAnumber", str()),
		opt("ha1", str()),
		opt("networkId", str()),
		opt("realm", str()),
		opt("blacklistPattern", regex()),
		// Upstream registration of the PBX trunk API, as gateway extensions (the
		// engine's trunk registration reads these names).
		opt("register", boolean().extNote("PBX trunk API: register upstream; default true when userName is set")),
		opt("registerInterval", int32s().min(60).max(86400).extNote("PBX trunk API: REGISTER expiry in seconds; default 600")),
		opt("keepAlive", boolean().extNote("PBX trunk API: OPTIONS keep-alive; default true")),
		opt("keepAliveInterval", int32s().min(10).max(86400).extNote("PBX trunk API: OPTIONS interval in seconds; default 360")),
		opt("concurrency", int32s().min(0).extNote("PBX trunk API: most concurrent calls; 0 = no limit")),
		opt("didNumbers", str().pattern(`^[0-9]+(-[0-9]+)?(;[0-9]+(-[0-9]+)?)*$`).extNote("PBX trunk API: DID numbers and ranges, e.g. 3000;12000-18000")),
		opt("outboundServer", str().extNote("PBX trunk API: outbound proxy host")),
		opt("outboundServerPort", int32s().min(1).max(65535).extNote("PBX trunk API: outbound proxy port")),
		opt("srtp", srtpSetting()),
	)
}

// srtpSetting is the media security of a device's or trunk's call legs, a
// gateway extension the engine reads (engine.SRTPOff and its siblings).
func srtpSetting() *Schema {
	return str().enum("off", "optional", "mandatory").
		desc("SRTP (SDES) on this device's or trunk's call legs: off (plain RTP; a caller requiring SRTP gets 488), " +
			"optional (keys offered on RTP/AVP, either accepted), mandatory (RTP/SAVP only). " +
			"Unset: a device follows the caller, a trunk is off.").
		extNote("gateway extension: per-leg SRTP policy")
}

// trustedNetworkSchema: a network whose SIP requests need no digest
// (the hosted PBX API's trusted networks), a gateway extension.
func trustedNetworkSchema() *Schema {
	return obj(
		req("network", str().desc("CIDR network (e.g. 10.0.20.0/24) or one address.").rule(func(v any) string {
			s := v.(string)
			if _, err := netip.ParsePrefix(s); err == nil {
				return ""
			}
			if _, err := netip.ParseAddr(s); err == nil {
				return ""
			}
			return "must be a CIDR network or an IP address"
		})),
		opt("description", str()),
		opt("id", str().pattern(idPattern)),
	).extNote("the hosted PBX API's trusted networks")
}

func ipv4OrCIDR() *Schema {
	return str().format("ipv4").rule(func(v any) string {
		s := v.(string)
		if strings.Contains(s, "/") {
			if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
				return ""
			}
		} else if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			return ""
		}
		return "must be an IPv4 address or CIDR"
	})
}

func trunkUpsertSchema() *Schema {
	return obj(
		opt("trunkId", str().pattern(idPattern)),
		req("serviceDestination", trunkSchema()),
	)
}

// idPattern bounds the ids a client may choose for a resource, in a path
// or a body: 1-128 URL-safe characters, not starting with a dot (no ".",
// "..", or hidden-file look-alike).
const idPattern = `^[a-zA-Z0-9\-_:~+][a-zA-Z0-9\-\._:~+]{0,127}$`

func alarmEventMapperSchema() *Schema {
	backup := obj(
		opt("backupOverrideSipFrom", str()),
		opt("backupSipAuthPassword", str().desc("Never returned by GET; left out on a write, the stored one is kept.")),
		opt("backupDefaultVoiceDestination", str()),
		opt("backupSipAuthUser", str()),
		opt("backupDestAddr", str()),
	)
	return obj(
		req("alarmHandling", str().enum("callEmergencyCenter", "usePredefinedDestination", "requestCallback", "drop")),
		req("targetEndpoint", obj(
			opt("protocol", str().enum("scaip").ext("dc09: SIA DC-09 delivery to the ARC; http, https: the event as JSON POSTed to {destAddr}/newAlarmbridgeEvent (gateway extensions)", "dc09", "http", "https")),
			opt("sipAuthUser", str()),
			opt("sipAuthPassword", str().desc("Never returned by GET; left out on a write, the stored one is kept.")),
			opt("destAddr", str()),
			opt("overrideSipFrom", str()),
			opt("defaultVoiceDestination", str()),
			opt("backupEndpoint", backup),
		)),
		opt("deviceIdPadLength", int32s().min(0).max(10).def(0)),
		opt("description", str()),
		opt("mappingRules", anyObj()),
		opt("unknownAlarmEventVoiceDestination", str()),
		opt("fromDomain", str()),
		opt("waitForCallback", num().min(0).max(1440).desc("Minutes within which the ARC calls the unit back (alarmHandling requestCallback); sent to SCAIP units as cre.")),
		opt("maxSessionDuration", num().min(0)),
		opt("controllerIdPadLength", int32s().min(0).max(10).def(0)),
		req("name", str()),
		opt("mapDeviceIdToControllerId", boolean().def(false)),
		opt("useVoiceBridge", boolean()),
		opt("callerId", str()),
		opt("id", str().pattern(idPattern)),
		opt("enableDestinationMonitoring", boolean()),
	)
}

func alarmbridgeSchema() *Schema {
	dtmf := func() *Schema { return str().enum("2833", "inaudio") }
	return obj(
		req("protocol", str().enum("api", "bs8521", "deviceProvisioned", "nowip", "scaip", "tt92", "ttnew", "multiprotocol", "voicecall", "nowipcontroller").
			ext("contactid: Ademco Contact ID (SIA DC-05) over DTMF (gateway extension)", "contactid")),
		req("protocolMode", str().enum("dtmf", "sdmf")),
		opt("alarmEventMapperId", str()),
		opt("defaultHeartbeatInterval", num().min(300000).def(300000)),
		opt("useVPNConnection", boolean().def(false)),
		opt("fallbackAlarmProtocol", str().enum("bs8521", "scaip", "tt92", "ttnew")),
		opt("callbackTimeout", num().def(15000)),
		req("destinationMatch", regex()),
		opt("toneSettings", obj(
			opt("calleeDtmfSendType", dtmf()),
			opt("callerDtmfSendType", dtmf()),
			opt("dtmfSendType", dtmf()),
		)),
		opt("callbackDescription", str()),
		opt("controlCommandsEnabled", boolean().def(true).desc("If this property is set to true the Alarmbridge will stay in the media path when a subsequent voice call have been established after reception of alarm event. "+
			"If not set the media path will be straight between alarm device and alarm receiver. "+
			"This gateway: false refuses in-call commands to the bridge's calls (devicecommand, hangupalarmcall with clear: 409). "+
			"For a SIP alarm unit it also leaves the voice call's media path once the voice destination answers: each leg is re-INVITEd with the other's media and the gateway keeps only the signalling. "+
			"The media stays through the gateway (one log line says why) when the legs use SRTP, different codecs or key-press transport, when a far end is behind NAT, while the call is recorded, or when a far end refuses the re-INVITE. "+
			"Once direct, the gateway cannot record the call, and when the voice destination hangs up first (arcDisconnectClearsCall) it takes the unit's media back to play the clear-down. "+
			"On the FXS line the gateway is the only media path between the unit and the receiver: there false only refuses the in-call commands.")),
		opt("description", str()),
		opt("arcDisconnectClearsCall", boolean().def(true)),
		opt("customEventMap", anyObj()),
		opt("customerSiteId", str().pattern(`^[a-zA-Z0-9_\-\.]+$`)),
		opt("callbackName", str()),
		opt("callbackBaseUrl", httpsURL()),
		opt("restAuthentication", restAuthentication()),
		opt("callbackId", str()),
		req("name", str()),
		opt("id", str().pattern(idPattern)),
		opt("dataRequestInterval", num()),
		opt("defaultEmergencyDestination", str()),
	)
}

func mediaServiceSchema() *Schema {
	return obj(
		opt("googleApikey", str()),
		opt("disableLateOffer", boolean()),
		opt("ivrRefresherExpiration", num().min(0)),
		opt("callbackTimeout", num()),
		req("destinationMatch", regex()),
		opt("googleServiceKey", anyObj()),
		opt("callbackDescription", str()),
		opt("description", str()),
		opt("callbackName", str()),
		req("callbackBaseUrl", httpsURL().extNote("http:// is also accepted for loopback hosts (127.0.0.0/8, ::1, localhost). "+
			"Webhook extension: a getIvrCommand answer may carry newCall's action (\"call\" with destAddr and its fields, or \"drop\" with dropCode) "+
			"to transfer or drop the caller at once; the media service API's way, splitconnection of the IVR connection answered by callEvent callerConnectionSplit, works too")),
		opt("replySessionExpiration", num().min(0)),
		req("restAuthentication", restAuthentication()),
		opt("rtpTimeout", num()),
		opt("callbackId", str()),
		opt("offeredCodecs", arr(str().enum("opus", "PCMA", "PCMU"))),
		req("name", str()),
		opt("networkId", str()),
		opt("id", str().pattern(idPattern)),
	)
}

func cloudSipUASchema() *Schema {
	return obj(
		opt("restAuthentication", restAuthentication()),
		opt("callbackTimeout", num()),
		opt("callbackId", str()),
		req("destinationMatch", regex()),
		opt("callbackDescription", str()),
		req("name", str()),
		opt("description", str()),
		opt("id", str().pattern(idPattern)),
		opt("callbackName", str()),
		req("callbackBaseUrl", httpsURL()),
	)
}

// notificationSchema is also the siprec service's (the provisioning schema gives
// both the same object).
func notificationSchema() *Schema {
	return obj(
		opt("restAuthentication", restAuthentication()),
		opt("alarmTopic", str()),
		opt("httpTimeout", int32s()),
		opt("sipEventsTopic", str()),
		opt("useHttpEvents", boolean()),
		opt("alarmEventsRestEndpoint", httpURL().extNote("must start with http:// or https:// like the other endpoints (the provisioning schema's text for it is garbled)")),
		opt("sipEventsRestEndpoint", httpURL()),
		opt("alarmbridgeCallbackEndpoint", httpURL()),
	)
}

// notificationSettingsSchema is the domain's notificationsettings: the
// platform's notification destinations, and the gateway's call capture.
func notificationSettingsSchema() *Schema {
	s := notificationSchema()
	s.Properties["callCaptureRtpSeconds"] = int32s().min(0).max(engine.CaptureMaxSeconds).def(0).
		extNote(fmt.Sprintf("the first N seconds (0-%d) of each call's RTP are kept on disk (the data folder's captures/, kept across restarts) and written into the call's pcap "+
			"(/recentcalls/{domain}/{callId}/pcap); 0, the default, keeps none (privacy). All captures together hold at most %d MiB; "+
			"the oldest finished captures are dropped first. A bridged call's pcap holds both legs", engine.CaptureMaxSeconds, engine.CaptureBudget>>20))
	return s
}

func profileSchema(create bool) *Schema {
	s := obj(
		opt("firstName", str()),
		opt("lastName", str()),
		opt("emailConsent", int32s()),
		opt("phone", str()),
		opt("company", str()),
		opt("email", str()),
	)
	if create {
		s.Properties["authProvider"] = str()
		s.Properties["otherInfo"] = str()
		s.Properties["useCase"] = str()
		s.Properties["termsAgreed"] = int32s()
		s.Properties["profileReviewed"] = boolean()
		s.Properties["deploymentSize"] = str()
	}
	return s
}

func sipLogFilterSchema() *Schema {
	return obj(
		opt("filterPattern", str()),
		opt("limit", int32s().min(0).max(1000).desc("Items to return, newest first; 0 or absent means 100.")),
		opt("startTime", int64s().min(0).extNote("int64 milliseconds since the epoch; the provisioning schema's int32 cannot hold a millisecond timestamp")),
		opt("endTime", int64s().min(0).extNote("int64 milliseconds since the epoch; the provisioning schema's int32 cannot hold a millisecond timestamp")),
	)
}

func apiKeySchema() *Schema {
	return obj(req("key", str().desc("An RS256 public key (PEM) for JWT verification, a token of at least 16 characters, or empty for a random token.").
		extNote("a chosen token must be at least 16 characters")))
}

func deleteAllSchema() *Schema {
	return obj(opt("confirmDeleteAll", boolean()))
}

func patchSchema() *Schema {
	return arr(obj(
		req("op", str().enum("add", "remove", "replace", "copy", "move", "test")),
		req("path", str()),
		opt("from", str()),
		opt("value", &Schema{Description: "Any JSON value."}),
	))
}
