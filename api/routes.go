package api

import (
	"net/http"
)

const (
	jsonType = "application/json"
	csvType  = "text/csv"
)

func provisoryParam() param {
	return param{name: "provisory", desc: "true to use the provisory copy instead of the working configuration.", schema: str().enum("true", "false")}
}

func pageParams() []param {
	return []param{
		{name: "limit", desc: "Entries per page: default 100, which is also the maximum.", schema: str().pattern(`^[0-9]+$`)},
		{name: "nextToken", desc: "The token of the previous page.", schema: str()},
	}
}

func okSchema(fields ...field) *Schema {
	s := obj(append([]field{opt("success", boolean())}, fields...)...)
	return s
}

// addRoutes lists every operation. The OpenAPI document is generated from
// this table, and a test checks the router answers exactly what it says.
func (s *Server) addRoutes() {
	const P = "/provisioning"
	tags := func(t string, rs ...*route) {
		for _, r := range rs {
			r.tag = t
			s.add(r)
		}
	}

	s.add(&route{method: "GET", path: "/healthz", summary: "Liveness: 200 when the API and its store answer.", auth: authNone, tag: "service",
		resp: okSchema(opt("version", str())), h: s.healthz})
	s.add(&route{method: "GET", path: "/openapi.json", summary: "This document.", auth: authAny, tag: "service", resp: anyObj(), h: s.openapi})
	s.add(&route{method: "GET", path: "/metrics", summary: "Prometheus metrics (text exposition format; every tenant's figures: admin key).", auth: authAdmin, tag: "service",
		resp: str(), respType: "text/plain", ext: "gateway extension", h: s.metrics})

	s.add(&route{method: "POST", path: "/firmware", summary: "Upload a signed firmware image into the inactive slot (admin key).", auth: authAdmin, tag: "firmware",
		bodyType: "application/octet-stream", resp: anyObj(), ext: "gateway extension", h: s.firmware})
	s.add(&route{method: "GET", path: "/firmware/status", summary: "Firmware slots, the running image and upload progress (admin key).", auth: authAdmin, tag: "firmware",
		resp: anyObj(), ext: "gateway extension", h: s.firmware})

	s.addFieldRoutes()

	// Devices.
	dk := s.devices
	device := dk.schema
	deviceOut := obj(opt("success", boolean()))
	for k, v := range device.Properties {
		deviceOut.Properties[k] = v
	}
	tags("device",
		&route{method: "GET", path: P + "/device/{domain}", summary: "List devices.", resp: okSchema(opt("devices", arr(device)), opt("nextToken", str())),
			query: append(pageParams(), param{name: "filter", desc: "Only devices whose deviceId starts with this string.", schema: str()}), h: dk.list},
		&route{method: "PUT", path: P + "/device/{domain}", summary: "Add or modify a device.", body: device, bodyType: jsonType,
			resp: okSchema(opt("password", str())), h: s.putDevice},
		&route{method: "POST", path: P + "/device/{domain}", summary: "Add or modify a device (same as PUT).", body: device, bodyType: jsonType,
			resp: okSchema(opt("password", str())), ext: "POST accepted as well as the cloud's PUT", h: s.putDevice},
		&route{method: "DELETE", path: P + "/device/{domain}", summary: "Delete all devices of the domain (only with confirmDeleteAll true; otherwise reports what it would delete).",
			body: deleteAllSchema(), bodyType: jsonType, resp: okSchema(opt("reason", str()), opt("message", str()), opt("error", anyObj())), h: s.deleteAllDevices},
		&route{method: "GET", path: P + "/device/{domain}/{deviceId}", summary: "Get a device.", resp: deviceOut, h: dk.get},
		&route{method: "DELETE", path: P + "/device/{domain}/{deviceId}", summary: "Delete a device.", resp: okSchema(), h: dk.del},
		&route{method: "PATCH", path: P + "/device/{domain}/{deviceId}", summary: "Modify a device with a JSON Patch (RFC 6902).", body: patchSchema(), bodyType: jsonType,
			resp: okSchema(opt("reason", str())), h: dk.patch},
		&route{method: "GET", path: P + "/device/{domain}/bulk/{bulkId}", summary: "Status of a bulk CSV import.",
			resp: okSchema(opt("status", obj(opt("reason", str()), opt("stoppedAt", num()), opt("bulkId", str()), opt("domain", str()), opt("startedAt", num()),
				opt("status", str().enum("STARTED", "COMPLETED", "FAILED")),
				opt("passwords", arr(obj(opt("deviceId", str()), opt("password", str()))).extNote("the SIP passwords generated for credentials rows without ha1 or password: in the first finished status read by the key that started the import, never again"))))),
			h: s.getBulk},
		&route{method: "PUT", path: P + "/device/{domain}/bulk/{bulkId}", summary: "Provision many devices from a CSV file (under 10 MB); imported in the background.",
			body: str(), bodyType: csvType, resp: okSchema(opt("bulkId", str())), h: s.postBulk},
		&route{method: "POST", path: P + "/device/{domain}/bulk/{bulkId}", summary: "Same as PUT.", body: str(), bodyType: csvType,
			resp: okSchema(opt("bulkId", str())), ext: "POST accepted as well as the cloud's PUT", h: s.postBulk},
	)

	// Trunks.
	tk := s.trunks
	trunk := tk.schema
	tags("trunk",
		&route{method: "GET", path: P + "/trunk/{domain}", summary: "List trunks.", query: pageParams(),
			resp: okSchema(opt("trunks", arr(obj(opt("trunkId", str()), opt("serviceDestination", trunk)))), opt("nextToken", str())), h: tk.list},
		&route{method: "POST", path: P + "/trunk/{domain}", summary: "Create a trunk.", body: trunk, bodyType: jsonType,
			resp: okSchema(opt("id", str()), opt("password", str())), h: tk.create},
		&route{method: "PUT", path: P + "/trunk/{domain}", summary: "Add or modify a trunk ({trunkId, serviceDestination}).", body: trunkUpsertSchema(), bodyType: jsonType,
			resp: okSchema(opt("id", str()), opt("password", str())), h: s.upsertTrunk},
		&route{method: "GET", path: P + "/trunk/{domain}/{trunkId}", summary: "Get a trunk.", resp: okSchema(opt("trunk", trunk)), h: tk.get},
		&route{method: "PUT", path: P + "/trunk/{domain}/{trunkId}", summary: "Add or modify a trunk.", body: trunk, bodyType: jsonType,
			resp: okSchema(opt("id", str()), opt("password", str())), h: tk.put},
		&route{method: "PATCH", path: P + "/trunk/{domain}/{trunkId}", summary: "Patch a trunk (RFC 6902).", body: patchSchema(), bodyType: jsonType,
			resp: okSchema(opt("reason", str()), opt("password", str())), h: tk.patch},
		&route{method: "DELETE", path: P + "/trunk/{domain}/{trunkId}", summary: "Delete a trunk.", resp: okSchema(), h: tk.del},
	)

	// Alarmbridges, alarm event mappers, media services, cloud SIP UAs.
	ab, aem, ms, ua := s.kinds()
	for _, k := range []*kind{ab, aem, ms, ua, s.trustedNetworkKind(), userKind(), groupKind(), limitKind()} {
		base := P + "/" + k.res + "/{domain}"
		one := base + "/{" + k.idParam + "}"
		var prov []param
		if k.provisory {
			prov = []param{provisoryParam()}
		}
		n := len(s.routes)
		tags(k.res,
			&route{method: "GET", path: base, summary: "List " + k.title + "s.", query: append(prov, pageParams()...),
				resp: okSchema(opt(k.listKey, arr(k.schema)), opt("nextToken", str())), h: k.list},
			&route{method: "POST", path: base, summary: "Provision a " + k.title + " (with the body's id, or a new one).", query: prov,
				body: k.schema, bodyType: jsonType, resp: okSchema(opt("id", str())), h: k.create},
			&route{method: "GET", path: one, summary: "Get a " + k.title + ".", query: prov, resp: okSchema(opt(k.oneKey, k.schema)), h: k.get},
			&route{method: "PUT", path: one, summary: "Overwrite a " + k.title + ".", query: prov, body: k.schema, bodyType: jsonType,
				resp: okSchema(opt("id", str())), h: k.put},
			&route{method: "PATCH", path: one, summary: "Patch a " + k.title + " (RFC 6902).", query: prov, body: patchSchema(), bodyType: jsonType,
				resp: okSchema(opt("reason", str())), h: k.patch},
			&route{method: "DELETE", path: one, summary: "Delete a " + k.title + ".", query: prov, resp: okSchema(), h: k.del},
		)
		for _, r := range s.routes[n:] {
			r.ext = k.ext
		}
	}

	// Settings, siprec, profile, keys, logs, statistics, config download.
	ns := notificationSchema()
	nsOut := obj(opt("success", boolean()))
	for k, v := range ns.Properties {
		nsOut.Properties[k] = v
	}
	nss := notificationSettingsSchema()
	nssOut := obj(opt("success", boolean()))
	for k, v := range nss.Properties {
		nssOut.Properties[k] = v
	}
	tags("settings",
		&route{method: "GET", path: P + "/notificationsettings/{domain}", summary: "Get event notification destinations.", resp: nssOut, h: s.getSettings("notificationsettings")},
		&route{method: "PUT", path: P + "/notificationsettings/{domain}", summary: "Set event notification destinations.", body: nss, bodyType: jsonType, resp: okSchema(), h: s.putSettings("notificationsettings")},
		&route{method: "POST", path: P + "/notificationsettings/{domain}", summary: "Same as PUT.", body: nss, bodyType: jsonType, resp: okSchema(), ext: "POST accepted as well as PUT", h: s.putSettings("notificationsettings")},
		&route{method: "GET", path: P + "/siprecservice/{domain}", summary: "Get the siprec service.", resp: nsOut, h: s.getSettings("siprecservice")},
		&route{method: "PUT", path: P + "/siprecservice/{domain}", summary: "Set the siprec service.", body: ns, bodyType: jsonType, resp: okSchema(), h: s.putSettings("siprecservice")},
		&route{method: "POST", path: P + "/siprecservice/{domain}", summary: "Same as PUT.", body: ns, bodyType: jsonType, resp: okSchema(), ext: "POST accepted as well as PUT", h: s.putSettings("siprecservice")},
		&route{method: "GET", path: P + "/currentuser/profile", summary: "Get the (one, local) user profile (gateway-wide: admin key).", auth: authAdmin, resp: okSchema(opt("profile", profileSchema(false))), h: s.getProfile},
		&route{method: "PUT", path: P + "/currentuser/profile", summary: "Update the user profile (gateway-wide: admin key).", auth: authAdmin, body: profileSchema(false), bodyType: jsonType, resp: okSchema(), h: s.putProfile(false)},
		&route{method: "POST", path: P + "/currentuser/profile", summary: "Create the user profile (gateway-wide: admin key).", auth: authAdmin, body: profileSchema(true), bodyType: jsonType, resp: okSchema(), h: s.putProfile(true)},
		&route{method: "PATCH", path: P + "/currentuser/profile", summary: "Patch the user profile (the given fields; gateway-wide: admin key).", auth: authAdmin, body: profileSchema(false), bodyType: jsonType, resp: okSchema(), h: s.patchProfile},
	)
	tags("apiKey",
		&route{method: "POST", path: P + "/apiKey/{domain}", summary: "Create an API key for the domain: an RS256 public key (PEM) for JWT bearer tokens, or a token (random when key is empty, returned once; a chosen token needs the admin key).",
			body: apiKeySchema(), bodyType: jsonType, resp: okSchema(opt("sk", str()), opt("key", str()), opt("type", str())), h: s.createAPIKey},
		&route{method: "GET", path: P + "/apiKey/{domain}", summary: "List the domain's API keys (ids in sk, never the keys).", query: pageParams(),
			resp: okSchema(opt("apiKeys", arr(obj(opt("sk", str()), opt("type", str()), opt("createdAt", num())))), opt("nextToken", str())), h: s.listAPIKeys},
		&route{method: "DELETE", path: P + "/apiKey/{domain}/{keyId}", summary: "Delete an API key.", resp: okSchema(), h: s.deleteAPIKey},
	)
	logItem := obj(opt("reason", str()), opt("srcIp", str()), opt("method", str()), opt("requestUri", str()), opt("srcPort", num()),
		opt("transport", str()), opt("body", str()), opt("type", str().enum("request", "response")), opt("timeStamp", num()), opt("dstPort", num()),
		opt("dstIp", str()), opt("sipHeaders", anyObj()), opt("statusCode", str()))
	tags("logs",
		&route{method: "POST", path: P + "/logs/{domain}/sip", summary: "SIP log items matching the posted filter (newest limit items, oldest first).",
			body: sipLogFilterSchema(), bodyType: jsonType, resp: okSchema(opt("logItems", arr(logItem))), h: s.sipLogs},
		&route{method: "GET", path: P + "/logs/{domain}/sip/{callId}/pcap", summary: "The SIP messages of one call as a pcap file.",
			resp: str().format("binary"), respType: "application/vnd.tcpdump.pcap", ext: "gateway extension: per-call pcap export", h: s.callPcap},
		&route{method: "GET", path: P + "/statistics/{domain}/{type}/{bucketsize}", summary: "Call statistics in time buckets (type cdr_siprec, or cdr for every call; bucketsize hour, day or month).",
			resp: okSchema(opt("statistics", arr(obj(opt("name", str()), opt("min_duration", num()), opt("sum_duration", num()), opt("num_calls", num()),
				opt("max_duration", num()), opt("average_duration", num()))))), h: s.statistics},
		&route{method: "GET", path: P + "/grandstream/{domain}/{mac}", summary: "Configuration file for the gateway or ATA with this MAC; authenticated by ?k=KEY (or Bearer); sets the device's lastConfigured.",
			auth: authQuery, query: []param{{name: "k", desc: "API key (admin or domain key).", schema: str()}},
			resp: str(), respType: "application/xml", h: s.grandstream},
	)

	s.recentCallRoutes(P)
	s.alertRoutes(P)

	// Live call control.
	for _, cmd := range mediaCommands {
		s.add(&route{method: "POST", path: "/mediaservice/{domain}/" + cmd, tag: "mediaservice call control", summary: "Call control: " + cmd + " (media service API).",
			body: mediaCommandSchema(cmd), bodyType: jsonType, resp: okSchema(), h: s.mediaCommand(cmd)})
	}
	s.promptRoutes()
	s.add(&route{method: "POST", path: "/alarmbridge/{domain}/hangupalarmcall", tag: "alarm call control", summary: "Clear down a live alarm call.",
		body: hangupAlarmSchema(), bodyType: jsonType, resp: okSchema(), ext: "body defined by the gateway", h: s.hangupAlarm})
	s.add(&route{method: "POST", path: "/alarmbridge/{domain}/devicecommand", tag: "alarm call control", summary: "Send an in-call command to the alarm unit.",
		body: deviceCommandSchema(), bodyType: jsonType, resp: okSchema(), ext: "body defined by the gateway", h: s.deviceCommand})
}

func (s *Server) healthz(c *call) error {
	if s.cfg.Health != nil {
		if err := s.cfg.Health(); err != nil {
			return errf(http.StatusServiceUnavailable, "unhealthy: %v", err)
		}
	} else if _, err := s.db.Schema(); err != nil {
		return errf(http.StatusServiceUnavailable, "store: %v", err)
	}
	return c.ok(map[string]any{"version": s.cfg.Version})
}

func (s *Server) firmware(c *call) error {
	if s.cfg.Firmware == nil {
		return errf(http.StatusNotFound, "firmware updates are not available")
	}
	s.cfg.Firmware.ServeHTTP(c.w, c.r)
	return nil
}

func (s *Server) metrics(c *call) error {
	if s.cfg.Metrics == nil {
		return errf(http.StatusNotFound, "metrics are not available")
	}
	s.cfg.Metrics.ServeHTTP(c.w, c.r)
	return nil
}
