// edgebridge installer's page: a client of the gateway's REST API.
// The key lives in sessionStorage and goes out as "Authorization: Bearer";
// forms come from the request schemas of /openapi.json.
'use strict';

const S = {
  key: sessionStorage.getItem('eb.key') || '',
  domain: sessionStorage.getItem('eb.domain') || 'local',
  doc: null,        // /openapi.json
  status: null,     // the last status summary
  stream: null,     // AbortController of the event stream
  pages: {},        // nextToken stack per list
};

// What a field means, in an installer's words; the schema's name is shown beside.
const LABELS = {
  deviceId: 'Device number (account or SIP user)', authType: 'How it signs in', deviceType: 'Kind of device',
  description: 'Note', deviceCLI: 'Caller number it calls from', macAddress: 'MAC address (configuration download)',
  password: 'SIP password (empty: one is generated)', ha1: 'SIP HA1 hash', authorized: 'Allowed calls (userid)',
  serviceData: 'Service settings', alarmBridge: 'Alarm settings', alarmProtocol: 'Alarm protocol',
  emergencyDestination: 'Voice call goes to', heartbeatInterval: 'Test call expected every (ms)',
  overrideInAlarmEvent: 'Replace in each alarm', usePredefinedDestination: 'Use the mapper\u2019s voice destination',
  heartbeatStatus: 'Test call status', heartbeatExpiration: 'Next test call due (ms)', lastConfigured: 'Last configuration download',
  name: 'Name', id: 'Id (empty: one is made)', protocol: 'Protocol', protocolMode: 'Signalling',
  destinationMatch: 'Called numbers it takes (regular expression)', alarmEventMapperId: 'Send alarms through (event mapper id)',
  customerSiteId: 'Customer site', toneSettings: 'DTMF', dtmfSendType: 'DTMF sent as', callerDtmfSendType: 'DTMF from the caller',
  calleeDtmfSendType: 'DTMF to the callee', callbackBaseUrl: 'HTTPS callback URL', callbackTimeout: 'Callback timeout (ms)',
  defaultEmergencyDestination: 'Default voice destination', defaultHeartbeatInterval: 'Default test call interval (ms)',
  fallbackAlarmProtocol: 'Fallback protocol', controlCommandsEnabled: 'ARC may control the call',
  arcDisconnectClearsCall: 'ARC hang-up ends the call', customEventMap: 'Per-event changes (JSON)',
  alarmHandling: 'After the alarm', targetEndpoint: 'Alarm receiving centre (ARC)', backupEndpoint: 'Backup ARC',
  destAddr: 'ARC address', backupDestAddr: 'Backup ARC address', defaultVoiceDestination: 'Voice destination',
  backupDefaultVoiceDestination: 'Backup voice destination', enableDestinationMonitoring: 'Watch the ARC path',
  sipAuthUser: 'SIP user at the ARC', sipAuthPassword: 'SIP password at the ARC', backupSipAuthUser: 'SIP user at the backup',
  backupSipAuthPassword: 'SIP password at the backup', overrideSipFrom: 'SIP From sent', backupOverrideSipFrom: 'SIP From sent to the backup',
  callerId: 'Caller id sent to the ARC', fromDomain: 'SIP From domain', useVoiceBridge: 'Bridge the voice call',
  mappingRules: 'Mapping rules (JSON)', mapDeviceIdToControllerId: 'Join device id to controller id',
  unknownAlarmEventVoiceDestination: 'Voice destination when nothing decodes', maxSessionDuration: 'Longest call (ms)',
  destinationTarget: 'Provider address', destinationTransport: 'Transport', userName: 'Account user name', realm: 'Realm',
  register: 'Register with the provider', registerInterval: 'Register every (s)', keepAlive: 'Keep-alive',
  keepAliveInterval: 'Keep-alive every (s)', concurrency: 'Calls at once', sourceNetworks: 'Provider networks (JSON list)',
  network: 'Network (CIDR or one address)', alarmbridgeCallbackEndpoint: 'Alarm callback URL',
  alarmEventsRestEndpoint: 'Alarm events URL', sipEventsRestEndpoint: 'SIP events URL', httpTimeout: 'HTTP timeout (ms)',
  useHttpEvents: 'Send events over HTTP', restAuthentication: 'Authentication (JSON list)', key: 'Key (empty: one is made)',
  user: 'Device it rings (deviceId)', extensionNumber: 'Extension number', displayName: 'Name shown', email: 'E-mail',
  firstName: 'First name', lastName: 'Last name', groupName: 'Group name', ringStrategy: 'Who rings', ringSecs: 'Ring for (s)',
  ringAttempts: 'Rounds', callerNameFormat: 'Caller name shown', members: 'Members (JSON list of {userId, ringOrder})',
  category: 'Limit', quantity: 'At most', callbackName: 'Callback name', callbackId: 'Callback id', callbackDescription: 'Callback note',
};

// The configuration lists: REST paths and how their answers are shaped.
const KINDS = {
  device: { title: 'Devices', what: 'Alarm units, ATAs and phones that call or register to the gateway.', res: 'device',
    listKey: 'devices', idField: 'deviceId', main: ['deviceType', 'description', 'password'], cols: ['deviceId', 'authType', 'deviceType', 'description'], schema: ['/provisioning/device/{domain}', 'put'] },
  alarmbridge: { title: 'Alarm bridges', what: 'Which called numbers are alarm calls, in which protocol, and where they go.', res: 'alarmbridge',
    listKey: 'alarmbridges', oneKey: 'alarmbridge', idField: 'id', main: ['id', 'alarmEventMapperId'], cols: ['id', 'name', 'protocol', 'destinationMatch', 'alarmEventMapperId'] },
  alarmeventmapper: { title: 'Alarm event mappers', what: 'The alarm receiving centre each alarm goes to (and its backup).', res: 'alarmeventmapper',
    listKey: 'alarmeventmappers', oneKey: 'alarmeventmapper', idField: 'id', main: ['id'], cols: ['id', 'name', 'alarmHandling', 'targetEndpoint.protocol', 'targetEndpoint.destAddr'] },
  trunk: { title: 'Trunks', what: 'SIP providers the gateway registers to and calls out through.', res: 'trunk',
    listKey: 'trunks', oneKey: 'trunk', idField: 'trunkId', cols: ['trunkId', 'destinationTarget', 'destinationTransport', 'destinationMatch', 'register'] },
  trustednetwork: { title: 'Trusted networks', what: 'Addresses allowed to send calls without signing in.', res: 'trustednetwork',
    listKey: 'trustednetworks', oneKey: 'trustednetwork', idField: 'id', main: ['id', 'description'], cols: ['id', 'network', 'description'] },
  user: { title: 'Users', what: 'Local phone users: an extension number that rings every registration of a device.', res: 'user',
    listKey: 'users', oneKey: 'user', idField: 'id', main: ['id', 'displayName'], cols: ['id', 'user', 'extensionNumber', 'displayName'] },
  group: { title: 'Groups', what: 'Ring groups: an extension number that rings its members, all at once or the longest idle first.', res: 'group',
    listKey: 'groups', oneKey: 'group', idField: 'id', main: ['id', 'ringStrategy', 'members'], cols: ['id', 'groupName', 'extensionNumber', 'ringStrategy'] },
  limit: { title: 'Call limits', what: 'Calls at once per domain or device, and new calls per second per address; beyond them a call is refused (503).', res: 'limit',
    listKey: 'limits', oneKey: 'limit', idField: 'category', cols: ['category', 'quantity'] },
  mediaservice: { title: 'Media services', what: 'Called numbers answered by a voice application over HTTPS callbacks (prompts, recordings, DTMF).', res: 'mediaservice',
    listKey: 'mediaservices', oneKey: 'mediaservice', idField: 'id', main: ['id'], cols: ['id', 'name', 'destinationMatch', 'callbackBaseUrl'] },
};

// discoverKinds adds a list and a form for each provisioning resource of
// /openapi.json the table above does not name (a collection with GET and
// POST whose items take PUT), with a link in the navigation: a resource
// the API gains is on the page without a change here.
function discoverKinds() {
  const paths = S.doc.paths;
  for (const [p, ops] of Object.entries(paths)) {
    const m = /^\/provisioning\/([a-z0-9]+)\/\{domain\}$/.exec(p);
    if (!m || KINDS[m[1]] || !ops.get || !ops.post) continue;
    const one = Object.keys(paths).find((q) => q.startsWith(p + '/{') && q.indexOf('/', p.length + 1) < 0 && paths[q].put);
    const body = schemaFor(p, 'post');
    if (!one || !body) continue;
    const res = m[1];
    const props = body.properties || {};
    const content = (op) => op && op.responses && op.responses['200'] && op.responses['200'].content && op.responses['200'].content['application/json'];
    const list = content(ops.get), item = content(paths[one].get);
    const listKey = list && Object.keys(list.schema.properties || {}).find((k) => list.schema.properties[k].type === 'array');
    if (!listKey) continue;
    const oneKey = item && Object.keys(item.schema.properties || {}).find((k) => item.schema.properties[k].type === 'object');
    const idParam = one.slice(p.length + 2, -1);
    const idField = props.id ? 'id' : props[idParam] ? idParam : (body.required || [])[0];
    const simple = (n) => n !== idField && props[n] && props[n].type !== 'object' && props[n].type !== 'array';
    const cols = [idField, ...['name', ...(body.required || [])].filter((n, i, a) => simple(n) && a.indexOf(n) === i).slice(0, 3)];
    const title = (ops.get.summary || res).replace(/^List (the )?/, '').replace(/\.$/, '');
    KINDS[res] = { title: title.charAt(0).toUpperCase() + title.slice(1), what: ops.post.summary || '', res, listKey, oneKey, idField, cols, main: ['id'] };
    const nav = $('#nav'), before = nav.querySelector('a[href="#/service"]');
    if (!nav.querySelector('a[href="#/' + res + '"]')) nav.insertBefore(h('a', { href: '#/' + res, 'data-discovered': '' }, KINDS[res].title), before);
  }
}

// ---- small helpers

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat(Infinity)) if (c != null) e.append(c.nodeType ? c : String(c));
  return e;
}
const $ = (sel, el = document) => el.querySelector(sel);
const main = () => $('#main');
const enc = encodeURIComponent;
const dpath = (res) => `/provisioning/${res}/${enc(S.domain)}`;
const label = (name) => LABELS[name] || name;
const get = (o, path) => path.split('.').reduce((v, k) => (v == null ? v : v[k]), o);
const fmtTime = (t) => (t ? new Date(t).toLocaleString() : '');
function dur(s) {
  const d = Math.floor(s / 86400), hh = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  return (d ? d + 'd ' : '') + (d || hh ? hh + 'h ' : '') + m + 'm ' + (s % 60) + 's';
}
function notice(text, kind) { return h('div', { class: 'notice ' + (kind || ''), role: kind === 'error' ? 'alert' : 'status' }, text); }

class APIError extends Error {
  constructor(status, reason) { super(reason || 'HTTP ' + status); this.status = status; this.reason = reason || ''; }
}

// api calls the REST API with the key; JSON bodies go as JSON.
async function api(method, path, body, type) {
  const headers = { Authorization: 'Bearer ' + S.key };
  let data;
  if (body !== undefined) {
    headers['Content-Type'] = type || 'application/json';
    data = typeof body === 'string' || body instanceof Blob ? body : JSON.stringify(body);
  }
  const r = await fetch(path, { method, headers, body: data, cache: 'no-store' });
  const ct = r.headers.get('Content-Type') || '';
  const out = ct.includes('json') ? await r.json() : await r.text();
  if (!r.ok) throw new APIError(r.status, out && out.reason);
  return out;
}

// ---- sign-in

function signOut(message) {
  sessionStorage.removeItem('eb.key');
  S.key = '';
  if (S.stream) S.stream.abort();
  S.stream = null;
  $('#nav').hidden = true;
  renderSignIn(message);
}

function renderSignIn(message) {
  const m = main();
  m.replaceChildren();
  const err = h('div', { id: 'signin-error' });
  if (message) err.append(notice(message, 'error'));
  const form = h('form', { class: 'card signin', id: 'signin' },
    h('h2', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'With the admin key, or a key made for one domain. It stays in this browser tab only.'),
    h('div', { class: 'row' }, h('label', { for: 'signin-key' }, 'API key'),
      h('input', { id: 'signin-key', type: 'password', autocomplete: 'current-password', required: true })),
    h('div', { class: 'row' }, h('label', { for: 'signin-domain' }, 'Domain ', h('code', {}, 'domain')),
      h('input', { id: 'signin-domain', type: 'text', value: S.domain, required: true, autocapitalize: 'off' })),
    err,
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'signin-submit' }, 'Sign in')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    S.key = $('#signin-key').value.trim();
    S.domain = $('#signin-domain').value.trim() || 'local';
    err.replaceChildren();
    try {
      await api('GET', dpath('device') + '?limit=1');
    } catch (e) {
      S.key = '';
      err.append(notice(e.status === 401 ? 'This key is not known to the gateway.' : e.status === 403 ? 'This key is not valid for domain ' + S.domain + '.' : e.message, 'error'));
      return;
    }
    sessionStorage.setItem('eb.key', S.key);
    sessionStorage.setItem('eb.domain', S.domain);
    start();
  });
  m.append(form);
  $('#signin-key').focus();
}

async function start() {
  $('#nav').hidden = false;
  if (!S.doc) {
    try { S.doc = await api('GET', '/openapi.json'); } catch (e) { if (e.status === 401) return signOut('Please sign in again.'); throw e; }
    discoverKinds();
  }
  watch();
  if (!location.hash || location.hash === '#/') location.hash = '#/status';
  else route();
}

// ---- live status (server-sent events over fetch, so the key goes in a header)

async function watch() {
  if (S.stream) return;
  const ctl = new AbortController();
  S.stream = ctl;
  while (!ctl.signal.aborted) {
    try {
      const r = await fetch('/gateway/events', { headers: { Authorization: 'Bearer ' + S.key }, signal: ctl.signal, cache: 'no-store' });
      if (r.status === 401) { signOut('Please sign in again.'); return; }
      if (!r.ok || !r.body) {
        onStatus(await api('GET', '/gateway/status')); // no live feed: poll
        await sleep(1000, ctl.signal);
        continue;
      }
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = chunk.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (data) onStatus(JSON.parse(data));
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
    }
    await sleep(1000, ctl.signal); // the gateway restarts: try again
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

function onStatus(st) {
  S.status = st;
  $('#footer-version').textContent = 'edgebridge ' + (st.version || '');
  $('#footer-tls').textContent = st.tlsFingerprint
    ? '\u00b7 HTTPS certificate SHA-256 ' + st.tlsFingerprint
    : '\u00b7 HTTPS off (serve --https ADDR turns it on)';
  const box = $('#status-live');
  if (box) box.replaceChildren(...statusCards(st));
  const rec = $('#service-recent');
  if (rec) rec.replaceChildren(alarmTable((st.recentAlarms || []).slice().reverse(), 'service-recent-table'));
  if ($('#queue-box') && S.loadQueue) S.loadQueue().catch(() => {}); // the queue is read, not pushed: with each status
}

// ---- views

function route() {
  if (!S.key) return renderSignIn();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === '#/' + parts[0]) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const m = main();
  m.replaceChildren();
  const view = parts[0] || 'status';
  let p;
  if (view === 'status') p = viewStatus(m);
  else if (KINDS[view]) p = parts[1] === 'new' ? viewForm(m, KINDS[view], null) : parts[1] === 'edit' ? viewForm(m, KINDS[view], parts[2]) : viewList(m, KINDS[view]);
  else if (view === 'notificationsettings') p = viewSettings(m);
  else if (view === 'apikey') p = viewKeys(m);
  else if (view === 'alerts') p = viewAlerts(m);
  else if (view === 'service') p = viewService(m);
  else if (view === 'raw') p = viewRaw(m);
  else m.append(notice('No such page.', 'error'));
  Promise.resolve(p).catch((e) => {
    if (e.status === 401) return signOut('Please sign in again.');
    m.append(notice(e.message, 'error'));
  });
}

function viewStatus(m) {
  m.append(h('h2', {}, 'Status'), h('div', { id: 'status-live', 'aria-live': 'polite' }, S.status ? statusCards(S.status) : h('p', { class: 'muted' }, 'Waiting for the gateway\u2026')));
}

function upDown(ok, yes = 'up', no = 'down') { return h('span', { class: ok ? 'up' : 'down' }, ok ? yes : no); }

function statusCards(st) {
  const he = st.health || {};
  const gw = h('div', { class: 'card' }, h('h3', {}, 'Gateway'), h('dl', { class: 'kv' },
    h('dt', {}, 'Version'), h('dd', { id: 'st-version' }, st.version || ''),
    h('dt', {}, 'Running for'), h('dd', { id: 'st-uptime' }, st.uptimeSeconds != null ? dur(st.uptimeSeconds) : ''),
    h('dt', {}, 'Configuration store'), h('dd', {}, upDown(he.storeWritable, 'writable', 'NOT WRITABLE: ' + (he.storeError || ''))),
    h('dt', {}, 'SIP'), h('dd', { id: 'st-sip' }, upDown(he.sipUp), he.sipAddr ? ' on ' + he.sipAddr : ''),
    h('dt', {}, 'Registered devices'), h('dd', {}, String(st.registrations ?? '')),
    h('dt', {}, 'Calls in progress'), h('dd', {}, String((st.calls || []).length)),
    h('dt', {}, 'Alarms waiting'), h('dd', { id: 'st-queued' }, String(st.queued ?? ''))));
  const trunks = he.trunks || [];
  const tr = h('div', { class: 'card' }, h('h3', {}, 'Trunks'), trunks.length
    ? h('ul', {}, trunks.map((t) => h('li', {}, t.name + ' ', upDown(t.up, 'registered', 'not registered'))))
    : h('p', { class: 'muted' }, 'No trunks.'));
  const paths = he.arcPaths || [];
  const arc = h('div', { class: 'card' }, h('h3', {}, 'Paths to the ARC'), paths.length
    ? h('div', { class: 'scroll' }, h('table', { id: 'st-paths' }, h('thead', {}, h('tr', {}, ['Destination', 'Path', 'State', 'Waiting', 'Last error'].map((c) => h('th', {}, c)))),
      h('tbody', {}, paths.map((p) => h('tr', {}, h('td', {}, p.destination), h('td', {}, p.path), h('td', {}, upDown(p.up)), h('td', {}, String(p.queued)), h('td', { class: 'err' }, p.lastError || ''))))))
    : h('p', { class: 'muted' }, 'No alarm has been sent yet.'));
  const calls = st.calls || [];
  const cl = h('div', { class: 'card' }, h('h3', {}, 'Calls in progress'), calls.length
    ? h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, ['From', 'To', 'Kind', 'Since'].map((c) => h('th', {}, c)))),
      h('tbody', {}, calls.map((c) => h('tr', {}, h('td', {}, c.from), h('td', {}, c.to), h('td', {}, c.state), h('td', {}, fmtTime(c.started)))))))
    : h('p', { class: 'muted' }, 'None.'));
  const al = h('div', { class: 'card' }, h('h3', {}, 'Last alarms'), alarmTable((st.recentAlarms || []).slice().reverse(), 'recent-alarms'));
  return [h('div', { class: 'grid' }, gw, tr), arc, al, cl];
}

function alarmTable(list, id, empty) {
  if (!list.length) return h('p', { class: 'muted', id }, empty || 'No alarms yet.');
  return h('div', { class: 'scroll' }, h('table', { id },
    h('thead', {}, h('tr', {}, ['Time', 'Account', 'Code', 'Zone', 'Protocol', 'State', 'Tries'].map((c) => h('th', {}, c)))),
    h('tbody', {}, list.map((a) => h('tr', { 'data-id': a.id },
      h('td', {}, fmtTime(a.at)), h('td', {}, a.account), h('td', {}, a.code), h('td', {}, a.zone),
      h('td', {}, a.protocol, a.test ? h('span', { class: 'badge test' }, 'test') : null),
      h('td', {}, a.state), h('td', {}, String(a.attempts)))))));
}

// ---- configuration lists

async function viewList(m, k, token) {
  const tokens = S.pages[k.res] || (S.pages[k.res] = []);
  if (!token) tokens.length = 0;
  m.replaceChildren(h('h2', {}, k.title), h('p', { class: 'muted' }, k.what),
    h('div', { class: 'actions' }, h('a', { class: 'btn', href: '#/' + k.res + '/new', id: 'new-' + k.res }, 'Add')));
  const q = '?limit=' + (S.pageSize || 25) + (token ? '&nextToken=' + enc(token) : '');
  const r = await api('GET', dpath(k.res) + q);
  const items = (r[k.listKey] || []).map((it) => (k.res === 'trunk' ? Object.assign({ trunkId: it.trunkId }, it.serviceDestination) : it));
  const table = h('table', { id: 'list-' + k.res },
    h('thead', {}, h('tr', {}, k.cols.map((c) => h('th', {}, label(c.split('.').pop()), ' ', h('code', {}, c))), h('th', {}, ''))),
    h('tbody', {}, items.map((it) => h('tr', {}, k.cols.map((c) => h('td', {}, String(get(it, c) ?? ''))),
      h('td', {}, h('a', { href: '#/' + k.res + '/edit/' + enc(it[k.idField]) }, 'Edit'))))));
  m.append(items.length ? h('div', { class: 'scroll card' }, table) : h('p', { class: 'muted' }, 'None yet.'));
  const nav = h('div', { class: 'actions' });
  if (token) nav.append(h('button', { type: 'button', class: 'secondary', onclick: () => viewList(m, k) }, 'First page'));
  if (r.nextToken) {
    nav.append(h('button', { type: 'button', class: 'secondary', id: 'next-' + k.res, onclick: () => { tokens.push(r.nextToken); viewList(m, k, r.nextToken); } }, 'Next page'));
  }
  const size = h('select', { id: 'page-size', 'aria-label': 'Entries per page' }, [10, 25, 100].map((n) => h('option', { value: n, selected: n === (S.pageSize || 25) }, n + ' per page')));
  size.addEventListener('change', () => { S.pageSize = +size.value; viewList(m, k); });
  nav.append(size);
  m.append(nav);
}

// schemaFor finds the request schema of a route in /openapi.json.
function schemaFor(path, method) {
  const op = S.doc.paths[path] && S.doc.paths[path][method];
  return op && op.requestBody && op.requestBody.content['application/json'].schema;
}

async function viewForm(m, k, id) {
  const schema = k.schema ? schemaFor(...k.schema) : schemaFor('/provisioning/' + k.res + '/{domain}', 'post');
  let value = {};
  if (id != null) {
    const r = await api('GET', dpath(k.res) + '/' + enc(id));
    value = k.oneKey ? r[k.oneKey] : r;
    delete value.success;
  }
  m.replaceChildren(h('h2', {}, (id != null ? 'Edit ' : 'Add ') + k.title.replace(/s$/, '').toLowerCase(), id != null ? ' ' + id : ''));
  const result = h('div', { id: 'form-result' });
  const form = h('form', { class: 'card', id: 'form-' + k.res, novalidate: true });
  form.append(...schemaFields(schema, value, '', id != null ? k.idField : null, k.main), result,
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'save' }, 'Save'),
      h('a', { href: '#/' + k.res }, 'Back to the list'),
      id != null ? h('button', { type: 'button', class: 'danger', id: 'delete', onclick: () => del(k, id, result) }, 'Delete') : null));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = collect(form);
    if (!body) return;
    result.replaceChildren();
    try {
      let r;
      if (k.res === 'device') r = await api('PUT', dpath('device'), Object.assign(body, id != null ? { deviceId: id } : {}));
      else if (id != null) r = await api('PUT', dpath(k.res) + '/' + enc(id), body);
      else r = await api('POST', dpath(k.res), body);
      const saved = id ?? r.id ?? body[k.idField];
      result.append(notice('Saved' + (saved ? ': ' + saved : '') + '.', 'ok'));
      if (r.password) {
        result.append(h('div', { class: 'notice', id: 'generated-password' }, 'SIP password (shown this once, write it down): ',
          h('strong', { id: 'password-value' }, r.password)));
      }
    } catch (e) {
      showError(form, result, e);
    }
  });
  m.append(form);
}

async function del(k, id, result) {
  if (!confirm('Delete ' + id + '?')) return;
  try {
    await api('DELETE', dpath(k.res) + '/' + enc(id));
    location.hash = '#/' + k.res;
  } catch (e) { result.replaceChildren(notice(e.message, 'error')); }
}

// schemaFields builds the inputs of an object schema: required fields
// first, the rest under "More settings".
// promote names optional fields worth showing up front; flat shows every
// field (the parts of a required group, such as the ARC's address).
function schemaFields(schema, value, prefix, fixedId, promote, flat) {
  const props = schema.properties || {};
  const req = new Set(schema.required || []);
  const up = (n) => req.has(n) || flat || (promote || []).includes(n);
  // id and name first, then the required fields in the schema's order,
  // then the promoted ones, then the rest by name.
  const order = ['id', 'name', 'protocol', 'destAddr', ...(schema.required || []), ...(promote || [])];
  const rank = (n) => (order.includes(n) ? order.indexOf(n) : order.length);
  const names = Object.keys(props).filter((n) => !props[n].readOnly).sort((a, b) => (up(b) - up(a)) || (rank(a) - rank(b)) || a.localeCompare(b));
  const first = [], rest = [];
  for (const n of names) {
    const el = field(n, props[n], req.has(n), value ? value[n] : undefined, prefix ? prefix + '.' + n : n, n === fixedId);
    (up(n) && !(flat && props[n].type === 'object' && !req.has(n) && props[n].properties) ? first : rest).push(el);
  }
  if (!rest.length || !first.length) return [...first, ...rest]; // nothing to fold away, or nothing else to show
  const more = h('details', { class: 'more' }, h('summary', {}, prefix ? 'More' : 'More settings'), rest);
  if (rest.some((el) => el.dataset.set === '1')) more.open = true;
  return [...first, more];
}

function field(name, s, required, val, path, fixed) {
  const id = 'f-' + path.replace(/[^A-Za-z0-9]/g, '_');
  const help = s.description ? h('div', { class: 'help', id: id + '-help' }, s.description) : null;
  const err = h('div', { class: 'fielderr', id: id + '-err', 'aria-live': 'assertive' });
  if (s.type === 'object' && s.properties) {
    const fs = h('fieldset', { 'data-group': path }, h('legend', {}, label(name), ' ', h('code', {}, name), required ? ' *' : ''), help, err,
      schemaFields(s, val || {}, path, null, null, required));
    fs.dataset.set = val != null ? '1' : '';
    return fs;
  }
  let input;
  const common = { id, 'data-path': path, 'aria-describedby': [help && id + '-help', id + '-err'].filter(Boolean).join(' '), required: required || null, disabled: fixed || null };
  if (s.enum) {
    input = h('select', common, required ? null : h('option', { value: '' }, '\u2014'), s.enum.map((v) => h('option', { value: v, selected: v === val }, String(v))));
    input.dataset.kind = 'string';
  } else if (s.type === 'boolean') {
    input = h('select', common, h('option', { value: '' }, '\u2014' + (s.default != null ? ' (default ' + (s.default ? 'yes' : 'no') + ')' : '')),
      h('option', { value: 'true', selected: val === true }, 'yes'), h('option', { value: 'false', selected: val === false }, 'no'));
    input.dataset.kind = 'boolean';
  } else if (s.type === 'integer' || s.type === 'number') {
    input = h('input', Object.assign({ type: 'number', step: s.type === 'integer' ? '1' : 'any', inputmode: 'numeric', value: val ?? '', placeholder: s.default != null ? 'default ' + s.default : null }, common));
    input.dataset.kind = 'number';
  } else if (s.type === 'string') {
    input = h('input', Object.assign({ type: 'text', value: val ?? '', autocapitalize: 'off', spellcheck: 'false', placeholder: s.default != null ? 'default ' + s.default : null }, common));
    input.dataset.kind = 'string';
  } else {
    input = h('textarea', common, val != null ? JSON.stringify(val, null, 2) : '');
    input.dataset.kind = 'json';
  }
  const row = h('div', { class: 'row field' }, h('label', { for: id }, label(name), ' ', h('code', {}, name), required ? ' *' : ''), input, help, err);
  row.dataset.set = val != null && val !== '' ? '1' : '';
  return row;
}

// collect reads a form back into a JSON object, leaving out empty fields.
function collect(form) {
  const out = {};
  let bad = false;
  clearErrors(form);
  for (const el of form.querySelectorAll('[data-path]')) {
    const raw = el.value.trim();
    if (raw === '') continue;
    let v = raw;
    if (el.dataset.kind === 'number') v = Number(raw);
    else if (el.dataset.kind === 'boolean') v = raw === 'true';
    else if (el.dataset.kind === 'json') {
      try { v = JSON.parse(raw); } catch (e) { fieldError(form, el, 'not valid JSON: ' + e.message); bad = true; continue; }
    }
    const keys = el.dataset.path.split('.');
    let o = out;
    for (const k of keys.slice(0, -1)) o = o[k] || (o[k] = {});
    o[keys[keys.length - 1]] = v;
  }
  return bad ? null : out;
}

function clearErrors(form) {
  for (const e of form.querySelectorAll('.fielderr')) e.textContent = '';
  for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
}

function fieldError(form, el, text) {
  const err = document.getElementById(el.id + '-err');
  if (err) err.textContent = text;
  el.setAttribute('aria-invalid', 'true');
  for (let d = el.closest('details'); d; d = d.parentElement.closest('details')) d.open = true;
  el.focus();
}

// showError puts the API's reason ("field.path: rule") next to the field it
// names, or above the buttons when it names none on the form.
function showError(form, result, e) {
  clearErrors(form);
  const m = /^([A-Za-z0-9_.[\]-]+): ([\s\S]*)$/.exec(e.reason || '');
  if (m) {
    let p = m[1].replace(/\[\d+\]/g, '');
    for (;;) {
      const el = form.querySelector('[data-path="' + p + '"]');
      if (el) { fieldError(form, el, m[2]); break; }
      const grp = form.querySelector('[data-group="' + p + '"]');
      if (grp) {
        grp.querySelector(':scope > .fielderr').textContent = m[2];
        for (let d = grp.closest('details'); d; d = d.parentElement.closest('details')) d.open = true;
        break;
      }
      if (!p.includes('.')) break;
      p = p.slice(0, p.lastIndexOf('.'));
    }
  }
  result.replaceChildren(notice('Not saved: ' + e.message, 'error'));
}

// ---- notification settings (one document per domain)

async function viewSettings(m) {
  const schema = schemaFor('/provisioning/notificationsettings/{domain}', 'put');
  const value = await api('GET', dpath('notificationsettings'));
  delete value.success;
  m.append(h('h2', {}, 'Notification settings'), h('p', { class: 'muted' }, 'Where the gateway sends alarm and SIP events over HTTP.'));
  const result = h('div', {});
  const form = h('form', { class: 'card', id: 'form-notificationsettings', novalidate: true }, schemaFields(schema, value, ''), result,
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'save' }, 'Save')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = collect(form);
    if (!body) return;
    try { await api('PUT', dpath('notificationsettings'), body); result.replaceChildren(notice('Saved.', 'ok')); } catch (e) { showError(form, result, e); }
  });
  m.append(form);
}

// ---- alerts (the gateway's own trouble: trunk lost, ARC path down, queue
// backlog, store nearly full, ...), newest first

async function viewAlerts(m, page) {
  page = page || 1;
  const q = S.doc.paths['/provisioning/alerts/{domain}'].get.parameters.find((x) => x.name === 'alert_type');
  const types = (q && q.schema.enum) || [];
  const want = S.alertType || '';
  const filter = h('select', { id: 'alert-type', 'aria-label': 'Alert type' }, h('option', { value: '' }, 'every type'),
    types.map((t) => h('option', { value: t, selected: t === want }, t)));
  filter.addEventListener('change', () => { S.alertType = filter.value; viewAlerts(m); });
  m.replaceChildren(h('h2', {}, 'Alerts'), h('p', { class: 'muted' }, 'Trouble the gateway saw, once per cause until it clears (the clearing is listed too).'),
    h('div', { class: 'actions' }, filter));
  const r = await api('GET', '/provisioning/alerts/' + enc(S.domain) + '?count=25&page=' + page + (want ? '&alert_type=' + enc(want) : ''));
  const rows = r.data || [];
  m.append(rows.length ? h('div', { class: 'scroll card' }, h('table', { id: 'list-alerts' },
    h('thead', {}, h('tr', {}, ['Time', 'Type', 'State', 'Message', 'Detail', ''].map((c) => h('th', {}, c)))),
    h('tbody', {}, rows.map((a) => h('tr', { 'data-type': a.alert_type, 'data-id': a.id },
      h('td', {}, fmtTime(a.time)), h('td', {}, h('code', {}, a.alert_type)),
      h('td', {}, a.cleared ? h('span', { class: 'up' }, 'cleared') : h('span', { class: 'down' }, 'raised'), a.acknowledged ? ' \u00b7 acknowledged' : ''),
      h('td', {}, a.message), h('td', { class: 'err' }, a.detail || ''),
      h('td', {}, a.acknowledged || a.cleared ? '' : h('button', { type: 'button', class: 'secondary', id: 'ack-' + a.id, onclick: async () => {
        try { await api('POST', '/provisioning/alerts/' + enc(S.domain) + '/' + enc(a.id) + '/ack'); viewAlerts(m, page); } catch (e) { m.append(notice(e.message, 'error')); }
      } }, 'Acknowledge'))))))) : h('p', { class: 'muted', id: 'list-alerts' }, 'No alerts.'));
  const nav = h('div', { class: 'actions' });
  if (page > 1) nav.append(h('button', { type: 'button', class: 'secondary', onclick: () => viewAlerts(m, page - 1) }, 'Newer'));
  if (page * 25 < r.total) nav.append(h('button', { type: 'button', class: 'secondary', id: 'alerts-older', onclick: () => viewAlerts(m, page + 1) }, 'Older'));
  m.append(nav);
}

// ---- API keys

async function viewKeys(m, token) {
  m.replaceChildren(h('h2', {}, 'API keys of ' + S.domain), h('p', { class: 'muted' }, 'Keys valid for this domain only. A key is shown once, when it is made.'));
  const result = h('div', { id: 'key-result' });
  const form = h('form', { class: 'card', id: 'form-apikey', novalidate: true },
    field('key', { type: 'string', description: 'A token of 16 characters or more, or an RS256 public key (PEM) for JWT bearer tokens. Empty: the gateway makes a random token.' }, false, '', 'key'),
    result, h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'make-key' }, 'Make a key')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const r = await api('POST', dpath('apiKey'), { key: $('#f-key').value.trim() });
      result.replaceChildren(notice('Made key ' + r.sk + '.', 'ok'));
      if (r.key) result.append(h('div', { class: 'notice', id: 'new-key' }, 'The key (shown this once): ', h('strong', {}, r.key)));
      list();
    } catch (e) { showError(form, result, e); }
  });
  const box = h('div', { class: 'card scroll' });
  m.append(form, box);
  async function list() {
    const r = await api('GET', dpath('apiKey') + (token ? '?nextToken=' + enc(token) : ''));
    const keys = r.apiKeys || [];
    box.replaceChildren(keys.length ? h('table', { id: 'list-apikey' }, h('thead', {}, h('tr', {}, h('th', {}, 'Key id ', h('code', {}, 'sk')), h('th', {}, 'Kind ', h('code', {}, 'type')), h('th', {}, 'Made'), h('th', {}, ''))),
      h('tbody', {}, keys.map((k) => h('tr', {}, h('td', {}, k.sk), h('td', {}, k.type), h('td', {}, fmtTime(k.createdAt)),
        h('td', {}, h('button', { type: 'button', class: 'secondary', onclick: async () => {
          if (!confirm('Delete key ' + k.sk + '?')) return;
          try { await api('DELETE', dpath('apiKey') + '/' + enc(k.sk)); list(); } catch (e) { result.replaceChildren(notice(e.message, 'error')); }
        } }, 'Delete')))))) : h('p', { class: 'muted' }, 'No keys for this domain.'),
    r.nextToken ? h('button', { type: 'button', class: 'secondary', onclick: () => viewKeys(m, r.nextToken) }, 'Next page') : '');
  }
  await list();
}

// ---- field service

async function viewService(m) {
  m.append(h('h2', {}, 'Field service'));
  // Test alarm through a chosen mapper.
  const mappers = (await api('GET', dpath('alarmeventmapper') + '?limit=100')).alarmeventmappers || [];
  const tres = h('div', { id: 'test-result' });
  const tform = h('form', { class: 'card', id: 'form-testalarm', novalidate: true }, h('h3', {}, 'Send a test alarm'),
    h('p', { class: 'muted' }, 'Contact ID 601 (manual test), marked as a test, delivered to the mapper\u2019s ARC like a real alarm.'),
    h('div', { class: 'row' }, h('label', { for: 'f-alarmEventMapperId' }, 'Through event mapper ', h('code', {}, 'alarmEventMapperId')),
      h('select', { id: 'f-alarmEventMapperId', 'data-path': 'alarmEventMapperId', 'aria-describedby': 'f-alarmEventMapperId-err' },
        mappers.length ? mappers.map((mp) => h('option', { value: mp.id }, mp.name + ' (' + mp.id + ')')) : h('option', { value: '' }, 'no event mapper yet: add one under Event mappers')),
      h('div', { class: 'fielderr', id: 'f-alarmEventMapperId-err' })),
    h('div', { class: 'row' }, h('label', { for: 'f-account' }, 'Account ', h('code', {}, 'account')),
      h('input', { id: 'f-account', type: 'text', 'data-path': 'account', placeholder: '0000', inputmode: 'numeric', 'aria-describedby': 'f-account-err' }),
      h('div', { class: 'fielderr', id: 'f-account-err' })),
    tres, h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'send-test', disabled: !mappers.length || null }, 'Send test alarm')));
  tform.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = collect(tform);
    try {
      const r = await api('POST', '/alarmbridge/' + enc(S.domain) + '/testalarm', body);
      tres.replaceChildren(notice('Test alarm queued: ' + r.eventId + '. Watch it below.', 'ok'));
    } catch (e) { showError(tform, tres, e); }
  });
  m.append(tform);

  // Recent alarms (live) and the delivery queue with retry now.
  const qbox = h('div', { id: 'queue-box' });
  const qres = h('div', {});
  const loadQueue = async () => {
    const r = await api('GET', '/gateway/alarms/queued');
    qbox.replaceChildren(alarmTable(r.alarms || [], 'queue-table', 'Nothing waiting: every alarm reached its ARC.'));
  };
  m.append(h('div', { class: 'card' }, h('h3', {}, 'Last alarms'), h('div', { id: 'service-recent' }, alarmTable(S.status ? (S.status.recentAlarms || []).slice().reverse() : [], 'service-recent-table'))),
    h('div', { class: 'card' }, h('h3', {}, 'Delivery queue'), qbox, qres,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', id: 'queue-refresh', onclick: () => loadQueue().catch((e) => qres.replaceChildren(notice(e.message, 'error'))) }, 'Refresh'),
        h('button', { type: 'button', id: 'retry-now', onclick: async () => {
          try { const r = await api('POST', '/gateway/alarms/retry'); qres.replaceChildren(notice(r.retried + (r.retried === 1 ? ' waiting alarm is' : ' waiting alarms are') + ' being sent again now.', 'ok')); await loadQueue(); } catch (e) { qres.replaceChildren(notice(e.message, 'error')); }
        } }, 'Retry now'))));
  await loadQueue();
  S.loadQueue = loadQueue;

  m.append(sipLogCard(), await firmwareCard(), resetCard());
}

function headerOf(hdrs, name) {
  for (const [k, v] of Object.entries(hdrs || {})) if (k.toLowerCase() === name) return Array.isArray(v) ? v[0] : v;
  return '';
}

function sipLogCard() {
  const box = h('div', { id: 'siplog-box' });
  const res = h('div', {});
  const form = h('form', { class: 'card', id: 'form-siplog', novalidate: true }, h('h3', {}, 'SIP log'),
    h('div', { class: 'row' }, h('label', { for: 'f-filterPattern' }, 'Only messages containing ', h('code', {}, 'filterPattern')),
      h('input', { id: 'f-filterPattern', type: 'text', 'data-path': 'filterPattern', autocapitalize: 'off', 'aria-describedby': 'f-filterPattern-err' }),
      h('div', { class: 'fielderr', id: 'f-filterPattern-err' })),
    h('div', { class: 'row' }, h('label', { for: 'f-limit' }, 'How many (newest) ', h('code', {}, 'limit')),
      h('input', { id: 'f-limit', type: 'number', 'data-path': 'limit', 'data-kind': 'number', value: '50', min: '1', 'aria-describedby': 'f-limit-err' }),
      h('div', { class: 'fielderr', id: 'f-limit-err' })),
    res, h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'siplog-search' }, 'Show')), box);
  $('#f-limit', form).dataset.kind = 'number';
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = collect(form);
    res.replaceChildren();
    try {
      const r = await api('POST', dpath('logs') + '/sip', body);
      const items = r.logItems || [];
      box.replaceChildren(items.length ? h('div', { class: 'scroll' }, h('table', { id: 'siplog-table' },
        h('thead', {}, h('tr', {}, ['Time', 'From', 'To', 'Message', 'Call', ''].map((c) => h('th', {}, c)))),
        h('tbody', {}, items.map((it) => {
          const cid = headerOf(it.sipHeaders, 'call-id') || headerOf(it.sipHeaders, 'i');
          return h('tr', {}, h('td', {}, fmtTime(it.timeStamp)), h('td', {}, it.srcIp + ':' + it.srcPort), h('td', {}, it.dstIp + ':' + it.dstPort),
            h('td', {}, it.type === 'request' ? it.method : it.statusCode + ' ' + (it.reason || '')), h('td', {}, cid),
            h('td', {}, cid ? h('button', { type: 'button', class: 'secondary pcap', 'data-call': cid, onclick: () => pcap(cid, res) }, 'pcap') : null));
        })))) : h('p', { class: 'muted' }, 'No SIP messages match.'));
    } catch (e) { showError(form, res, e); }
  });
  return form;
}

// pcap downloads one call's SIP messages (the key goes in a header, so the
// file is fetched and handed to the browser as a blob).
async function pcap(callId, res) {
  try {
    const r = await fetch(dpath('logs') + '/sip/' + enc(callId) + '/pcap', { headers: { Authorization: 'Bearer ' + S.key } });
    if (!r.ok) throw new APIError(r.status, (await r.json()).reason);
    const url = URL.createObjectURL(await r.blob());
    const a = h('a', { href: url, download: callId.replace(/[^A-Za-z0-9._-]/g, '_') + '.pcap', hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    res.replaceChildren(notice('Downloaded the pcap of call ' + callId + '.', 'ok'));
  } catch (e) { res.replaceChildren(notice(e.message, 'error')); }
}

async function firmwareCard() {
  const card = h('div', { class: 'card', id: 'firmware' }, h('h3', {}, 'Firmware'));
  const state = h('div', { id: 'fw-state' });
  const res = h('div', {});
  const bar = h('progress', { id: 'fw-progress', max: '100', value: '0', hidden: true });
  const file = h('input', { type: 'file', id: 'fw-file', accept: '.img,application/octet-stream' });
  const show = async () => {
    try {
      const st = await api('GET', '/firmware/status');
      const slots = st.slots || [];
      state.replaceChildren(h('dl', { class: 'kv' },
        h('dt', {}, 'Running from'), h('dd', {}, st.boot ? 'slot ' + st.boot.active + (st.boot.pending ? ' (on trial, not yet confirmed)' : '') : 'the installed binary (no image in the slots)'),
        slots.map((s) => [h('dt', {}, 'Slot ' + s.name), h('dd', {}, !s.present ? 'empty' : s.version + ' ' + s.arch + (s.intact ? ', intact' : ', DAMAGED: ' + s.problem))]),
        st.upload && st.upload.state && st.upload.state !== 'idle' ? [h('dt', {}, 'Last update'), h('dd', {}, st.upload.state + ' ' + (st.upload.version || '') + ' ' + (st.upload.error || ''))] : []));
    } catch (e) {
      state.replaceChildren(notice(e.status === 403 ? 'Firmware needs the admin key.' : e.status === 404 ? 'Firmware updates are not available on this gateway.' : e.message, 'error'));
    }
  };
  const upload = () => {
    const f = file.files[0];
    if (!f) { res.replaceChildren(notice('Choose a signed image first.', 'error')); return; }
    const x = new XMLHttpRequest();
    x.open('POST', '/firmware');
    x.setRequestHeader('Authorization', 'Bearer ' + S.key);
    x.setRequestHeader('Content-Type', 'application/octet-stream');
    bar.hidden = false;
    bar.value = 0;
    x.upload.onprogress = (ev) => { if (ev.lengthComputable) bar.value = Math.round((100 * ev.loaded) / ev.total); };
    x.onload = () => {
      let r = {};
      try { r = JSON.parse(x.responseText); } catch (e) { /* not JSON */ }
      res.replaceChildren(x.status === 200
        ? notice('Installed ' + (r.version || '') + '. It runs on trial after the next restart and rolls back by itself if it does not come up healthy.', 'ok')
        : notice('Update refused: ' + (r.reason || x.status), 'error'));
      show();
    };
    x.onerror = () => res.replaceChildren(notice('The upload failed (connection lost).', 'error'));
    x.send(f);
  };
  card.append(state, h('div', { class: 'row' }, h('label', { for: 'fw-file' }, 'Signed image'), file), bar, res,
    h('div', { class: 'actions' }, h('button', { type: 'button', id: 'fw-upload', onclick: upload }, 'Upload and install')));
  await show();
  return card;
}

function resetCard() {
  const phrase = 'erase everything';
  const input = h('input', { type: 'text', id: 'reset-confirm', autocomplete: 'off', autocapitalize: 'off' });
  const btn = h('button', { type: 'button', class: 'danger', id: 'reset', disabled: true }, 'Factory reset');
  const res = h('div', {});
  input.addEventListener('input', () => { btn.disabled = input.value !== phrase; });
  btn.addEventListener('click', async () => {
    try {
      await api('POST', '/gateway/factoryreset', { confirm: input.value });
      signOut('The gateway erased its configuration and restarts; it prints a new admin key on its console.');
    } catch (e) { res.replaceChildren(notice(e.message, 'error')); }
  });
  return h('div', { class: 'card' }, h('h3', {}, 'Factory reset'),
    h('p', {}, 'Erases all configuration, registrations and logs, then restarts. Queued alarms are kept and still delivered.'),
    h('div', { class: 'row' }, h('label', { for: 'reset-confirm' }, 'Type \u201c' + phrase + '\u201d to confirm'), input), res, h('div', { class: 'actions' }, btn));
}

// ---- raw JSON of any resource

function viewRaw(m) {
  const method = h('select', { id: 'raw-method' }, ['GET', 'PUT', 'PATCH', 'POST', 'DELETE'].map((x) => h('option', {}, x)));
  const path = h('input', { type: 'text', id: 'raw-path', value: dpath('device'), autocapitalize: 'off', spellcheck: 'false' });
  const body = h('textarea', { id: 'raw-body', class: 'big', spellcheck: 'false', placeholder: 'JSON body (PUT, POST); a JSON Patch list for PATCH' });
  const out = h('pre', { id: 'raw-out', 'aria-live': 'polite' });
  const form = h('form', { class: 'card', id: 'form-raw' },
    h('p', { class: 'muted' }, 'Any REST call, for what the forms do not cover; /openapi.json lists them all.'),
    h('div', { class: 'row' }, h('label', { for: 'raw-method' }, 'Method'), method),
    h('div', { class: 'row' }, h('label', { for: 'raw-path' }, 'Path'), path),
    h('div', { class: 'row' }, h('label', { for: 'raw-body' }, 'Body'), body),
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'raw-send' }, 'Send')), out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const b = body.value.trim();
    const hdr = { Authorization: 'Bearer ' + S.key };
    if (b && method.value !== 'GET') hdr['Content-Type'] = method.value === 'PATCH' ? 'application/json-patch+json' : 'application/json';
    try {
      const r = await fetch(path.value, { method: method.value, headers: hdr, body: b && method.value !== 'GET' ? b : undefined });
      const text = await r.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON */ }
      out.textContent = r.status + ' ' + r.statusText + '\n' + shown;
      if (r.ok && method.value === 'GET' && !b) body.value = shown; // ready to edit and PUT back
    } catch (e) { out.textContent = e.message; }
  });
  m.append(h('h2', {}, 'Raw JSON'), form);
}

// ---- start

document.addEventListener('DOMContentLoaded', () => {
  $('#signout').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', route);
  if (S.key) start().catch((e) => signOut(e.message));
  else renderSignIn();
});
