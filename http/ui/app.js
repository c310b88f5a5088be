// The admin dashboard of webhook-ingress (issue 18): a single page that asks
// the node's admin JSON routes only, with the admin token the user typed.
// The token lives in sessionStorage (this tab, until it closes or "Log out")
// and goes out as a bearer header only: never in a URL, a cookie,
// localStorage or the console. Views refresh every 2 s; every text from the
// server is set as text (never parsed as HTML).
'use strict';
(() => {
  const TOKEN_KEY = 'wi_admin_token';
  const REFRESH_MS = 2000;
  const PAGE_SIZE = 20;
  const CHART_POINTS = 60;
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);

  // -- small helpers ---------------------------------------------------------

  /// Creates an element: h('td', {class: 'num'}, 'text', child, ...).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v === null || v === undefined) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function svg(tag, attrs) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    return el;
  }

  const enc = encodeURIComponent;
  const fmt = (n, digits = 0) =>
    typeof n === 'number' ? n.toLocaleString('en-US', {maximumFractionDigits: digits}) : '—';

  function duration(seconds) {
    const d = Math.floor(seconds / 86400), hh = Math.floor(seconds % 86400 / 3600);
    const m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    if (d > 0) return `${d}d ${hh}h ${m}m`;
    if (hh > 0) return `${hh}h ${m}m ${s}s`;
    return m > 0 ? `${m}m ${s}s` : `${s}s`;
  }

  function rate(successful, total) {
    return total > 0 ? `${fmt(100 * successful / total, 1)}%` : '—';
  }

  function announce(text) { $('announce').textContent = text; }

  // -- the token and the API -------------------------------------------------

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /// Calls an admin route; resolves to the envelope ({data: null} for 204),
  /// rejects with an ApiError. A 401 logs out: the token is wrong or gone.
  async function api(method, path, body) {
    const headers = {Authorization: `Bearer ${token()}`, Accept: 'application/json'};
    const init = {method, headers, cache: 'no-store', credentials: 'omit',
                  referrerPolicy: 'no-referrer'};
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'NETWORK', 'The node did not answer');
    }
    if (resp.status === 204) {
      await resp.text().catch(() => ''); // read to its end: nothing, but complete
      return {data: null, pagination: null};
    }
    let doc = null;
    try { doc = await resp.json(); } catch (e) { doc = null; }
    if (resp.ok && doc && doc.success === true) return doc;
    const err = (doc && doc.error) || {};
    if (resp.status === 401) logout('Invalid admin token');
    throw new ApiError(resp.status, err.code || `HTTP_${resp.status}`,
                       err.message || `The node answered ${resp.status}`);
  }

  // -- login -----------------------------------------------------------------

  async function login(event) {
    event.preventDefault();
    const field = $('token');
    const value = field.value.trim();
    $('login-error').textContent = '';
    if (!value) {
      $('login-error').textContent = 'Enter the admin token';
      field.focus();
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, value);
    try {
      await api('GET', '/admin/v1/node');
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      $('login-error').textContent = e.status === 401 ? 'Invalid admin token'
        : e.status === 403 ? 'This is a tenant token; the dashboard needs the admin token'
        : `Cannot log in: ${e.message}`;
      field.select();
      field.focus();
      return;
    }
    field.value = '';
    if (location.hash === '' || location.hash === '#/' || location.hash === '#/login')
      location.hash = '#/tenants';
    route();
  }

  function logout(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    stopView();
    $('login-error').textContent = message || '';
    route();
  }

  // -- views and the router --------------------------------------------------

  let current = null; // {refresh(), stop?()}
  let timer = null;
  let generation = 0;

  function stopView() {
    generation += 1;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (current && current.stop) current.stop();
    current = null;
  }

  /// Runs the view's refresh now and then every REFRESH_MS (after the
  /// previous one ended), until another view starts.
  function startView(view) {
    stopView();
    current = view;
    const mine = generation;
    const tick = async () => {
      if (mine !== generation) return;
      try {
        await view.refresh();
        if (mine === generation) $('banner').hidden = true;
      } catch (e) {
        if (mine !== generation || e.status === 401) return;
        $('banner').textContent = e.status === 404 ? `Not found: ${e.message}` : `Error: ${e.message}`;
        $('banner').hidden = false;
      }
      if (mine === generation) timer = setTimeout(tick, REFRESH_MS);
    };
    tick();
  }

  function mount(title, ...children) {
    const view = $('view');
    const heading = h('h1', {tabindex: '-1', id: 'view-title'}, title);
    view.replaceChildren(heading, ...children);
    document.title = `${title} · webhook-ingress admin`;
    return heading;
  }

  function route() {
    const loggedIn = token() !== null;
    $('login-view').hidden = loggedIn;
    $('nav').hidden = !loggedIn;
    $('view').hidden = !loggedIn;
    if (!loggedIn) {
      stopView();
      $('banner').hidden = true;
      $('view').replaceChildren();
      document.title = 'Log in · webhook-ingress admin';
      $('token').focus();
      return;
    }
    const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
    $('nav-tenants').removeAttribute('aria-current');
    $('nav-node').removeAttribute('aria-current');
    let heading;
    if (parts[0] === 'node') {
      $('nav-node').setAttribute('aria-current', 'page');
      heading = nodeView();
    } else if (parts[0] === 'tenants' && parts.length === 4 && parts[2] === 'endpoints') {
      heading = endpointView(parts[1], parts[3]);
    } else if (parts[0] === 'tenants' && parts.length === 2 && parts[1]) {
      heading = tenantView(parts[1]);
    } else {
      $('nav-tenants').setAttribute('aria-current', 'page');
      heading = tenantsView();
    }
    heading.focus({preventScroll: false});
  }

  /// Asks for a confirmation in a modal dialog; resolves to true or false.
  function confirmAction(text, okLabel) {
    const dialog = $('confirm');
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = okLabel;
    return new Promise((resolve) => {
      const done = (answer) => {
        $('confirm-ok').removeEventListener('click', ok);
        $('confirm-cancel').removeEventListener('click', cancel);
        dialog.removeEventListener('cancel', cancel);
        if (dialog.open) dialog.close();
        resolve(answer);
      };
      const ok = () => done(true);
      const cancel = (e) => { if (e) e.preventDefault(); done(false); };
      $('confirm-ok').addEventListener('click', ok);
      $('confirm-cancel').addEventListener('click', cancel);
      dialog.addEventListener('cancel', cancel);
      dialog.showModal();
      $('confirm-cancel').focus();
    });
  }

  /// A button whose action runs after a confirmation; `after` re-reads.
  function actionButton(label, question, action, after) {
    const button = h('button', {type: 'button'}, label);
    button.addEventListener('click', async () => {
      if (!(await confirmAction(question, label))) return;
      button.disabled = true;
      try {
        const message = await action();
        announce(message);
        $('banner').hidden = true;
      } catch (e) {
        if (e.status !== 401) {
          $('banner').textContent = `${label} failed: ${e.message}`;
          $('banner').hidden = false;
        }
      } finally {
        button.disabled = false;
      }
      if (after) await after().catch(() => {});
    });
    return button;
  }

  // -- charts (plain SVG) ----------------------------------------------------

  /// A line chart of `values` (oldest first) in a 300x90 box.
  function lineChart(el, values, bad) {
    const w = 300, hgt = 90, top = 12, bottom = 84;
    const max = Math.max(1, ...values);
    const step = w / Math.max(1, CHART_POINTS - 1);
    const offset = (CHART_POINTS - values.length) * step;
    const points = values.map((v, i) =>
      `${(offset + i * step).toFixed(1)},${(bottom - (bottom - top) * v / max).toFixed(1)}`);
    el.replaceChildren(
      svg('line', {class: 'axis', x1: 0, y1: bottom, x2: w, y2: bottom}),
      svg('polyline', {class: bad ? 'line bad' : 'line', points: points.join(' ')}));
    el.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
    el.parentNode.querySelector('.scale').textContent = ` (scale: 0 to ${fmt(max, 1)}/s)`;
  }

  /// A bar chart of attempt latencies (oldest first); failures in red.
  function latencyChart(el, attempts) {
    const w = 300, top = 12, bottom = 84;
    const max = Math.max(1, ...attempts.map((a) => a.latency_ms));
    const bw = w / Math.max(20, attempts.length);
    const bars = attempts.map((a, i) => {
      const hgt = Math.max(1, (bottom - top) * a.latency_ms / max);
      const ok = a.status_code >= 200 && a.status_code < 300;
      const bar = svg('rect', {class: ok ? 'bar' : 'bar bad', x: (i * bw + 1).toFixed(1),
        y: (bottom - hgt).toFixed(1), width: Math.max(1, bw - 2).toFixed(1), height: hgt.toFixed(1)});
      bar.append(Object.assign(svg('title'), {textContent: `${a.latency_ms} ms, ${a.status_code || a.error}`}));
      return bar;
    });
    el.replaceChildren(
      svg('line', {class: 'axis', x1: 0, y1: bottom, x2: w, y2: bottom}), ...bars);
    el.setAttribute('viewBox', `0 0 ${w} 90`);
    el.parentNode.querySelector('.scale').textContent = ` (scale: 0 to ${fmt(max)} ms)`;
  }

  function chartFigure(id, caption) {
    const chart = svg('svg', {class: 'chart', id, role: 'img', 'aria-label': caption,
                              viewBox: '0 0 300 90', preserveAspectRatio: 'none'});
    return {figure: h('figure', {}, h('figcaption', {}, caption, h('span', {class: 'scale'})), chart), chart};
  }

  function card(label, value, sub, id) {
    return h('div', {class: 'card', id}, h('div', {class: 'label'}, label),
             h('div', {class: 'value'}, value), sub ? h('div', {class: 'sub'}, sub) : null);
  }

  function table(caption, head, rows, id) {
    return h('table', {id},
      h('caption', {class: 'visually-hidden'}, caption),
      h('thead', {}, h('tr', {}, head.map(([text, cls]) => h('th', {scope: 'col', class: cls}, text)))),
      h('tbody', {}, rows));
  }

  /// Replaces `el`'s content only when `key` changed (keeps focus on a
  /// button of a table that did not change).
  function update(el, key, build) {
    if (el.dataset.key === key) return;
    el.dataset.key = key;
    el.replaceChildren(...[].concat(build()));
  }

  function statusWords(status, reason, nextProbe) {
    if (status === 'active') return 'Active';
    if (status === 'inactive') return 'Inactive (turned off by the tenant or an operator)';
    const why = reason === 'gone' ? 'the endpoint answered 410 Gone'
      : `${reason === 'consecutive_failures' ? 'consecutive failures' : reason || 'failures'}`;
    return `Disabled by the breaker (${why})` + (nextProbe ? `; next probe at ${nextProbe}` : '');
  }

  function statusCell(status) {
    return h('span', {class: `status-${status}`}, status);
  }

  // -- Node ------------------------------------------------------------------

  const samples = []; // {t, success, failure}, shared so the charts survive navigation

  function nodeView() {
    const cards = h('div', {class: 'cards', id: 'node-cards'});
    const rates = chartFigure('chart-deliveries', 'Deliveries per second (attempts with a 2xx)');
    const fails = chartFigure('chart-failures', 'Failures per second (attempts without a 2xx)');
    const wal = h('dl', {class: 'facts', id: 'node-wal'});
    const cluster = h('div', {id: 'node-cluster'});
    const build = h('p', {class: 'muted', id: 'node-build'});
    const heading = mount('Node', cards, h('h2', {}, 'Delivery rates'),
      h('div', {class: 'charts'}, rates.figure, fails.figure),
      h('h2', {}, 'Write-ahead log and snapshots'), wal, h('h2', {}, 'Cluster'), cluster, build);
    startView({
      refresh: async () => {
        const [node, clus] = await Promise.all([api('GET', '/admin/v1/node'),
                                                api('GET', '/admin/v1/cluster')]);
        const n = node.data;
        const now = performance.now();
        samples.push({t: now, success: n.attempts.success, failure: n.attempts.failure});
        while (samples.length > CHART_POINTS + 1) samples.shift();
        const perSecond = (key) => samples.slice(1).map((s, i) =>
          Math.max(0, (s[key] - samples[i][key]) * 1000 / Math.max(1, s.t - samples[i].t)));
        const ok = perSecond('success'), bad = perSecond('failure');
        const last = (xs) => (xs.length ? xs[xs.length - 1] : 0);
        cards.replaceChildren(
          card('Uptime', duration(n.uptime_seconds), `since ${n.started_at}`, 'card-uptime'),
          card('Tenants', fmt(n.tenants.registered),
               `${fmt(n.tenants.active)} active, ${fmt(n.tenants.loaded)} loaded`, 'card-tenants'),
          card('Endpoints', fmt(n.endpoints.total),
               `${fmt(n.endpoints.active)} active, ${fmt(n.endpoints.disabled)} disabled, ` +
               `${fmt(n.endpoints.inactive)} inactive`, 'card-endpoints'),
          card('Pending deliveries', fmt(n.deliveries.pending),
               `${fmt(n.deliveries.in_flight)} in flight, ${fmt(n.deliveries.queued)} queued`, 'card-pending'),
          card('Deliveries/s', fmt(last(ok), 1), `${fmt(n.attempts.success)} since start`, 'card-rate'),
          card('Failures/s', fmt(last(bad), 1), `${fmt(n.attempts.failure)} since start`, 'card-failures'));
        lineChart(rates.chart, ok, false);
        lineChart(fails.chart, bad, true);
        const w = n.wal;
        wal.replaceChildren(
          h('dt', {}, 'Last sequence'), h('dd', {}, fmt(w.last_sequence)),
          h('dt', {}, 'First stored sequence'), h('dd', {}, fmt(w.first_sequence)),
          h('dt', {}, 'Last snapshot covers'), h('dd', {}, fmt(w.last_snapshot_sequence)),
          h('dt', {}, 'Records waiting for sync'), h('dd', {}, fmt(w.pending)));
        const c = clus.data;
        const owners = Object.entries(c.tenants_by_node || {});
        update(cluster, JSON.stringify(c), () => [
          h('p', {}, c.cluster_mode ? `Cluster mode; this node is ${c.node}.`
                                    : `Single node (${c.node}); no cluster.`),
          table('Members', [['Node'], ['HTTP'], ['Peer'], ['State'], ['Tenants', 'num']],
            c.members.map((m) => h('tr', {}, h('td', {}, m.id), h('td', {}, m.http),
              h('td', {}, m.peer || '—'), h('td', {}, m.state),
              h('td', {class: 'num'}, c.cluster_mode ? fmt((c.tenants_by_node || {})[m.id] || 0) : 'all')))),
          owners.length ? null : h('p', {class: 'muted'}, 'Tenants live on this node.')]);
        build.textContent = `Version ${n.version}, build ${n.build}, node ${n.node_id}`;
      },
    });
    return heading;
  }

  // -- Tenants ---------------------------------------------------------------

  function tenantsView() {
    let page = 1;
    let search = '';
    let debounce = null;
    const input = h('input', {type: 'search', id: 'tenant-search', 'aria-controls': 'tenants-table'});
    const prev = h('button', {type: 'button', id: 'tenants-prev'}, 'Previous page');
    const next = h('button', {type: 'button', id: 'tenants-next'}, 'Next page');
    const info = h('span', {id: 'tenants-info', 'aria-live': 'polite'});
    const body = h('div', {id: 'tenants-body'});
    const heading = mount('Tenants',
      h('div', {class: 'toolbar'}, h('label', {for: 'tenant-search'}, 'Search by name or id'), input,
        prev, next, info), body);
    const view = {
      refresh: async () => {
        const q = `page=${page}&pageSize=${PAGE_SIZE}` + (search ? `&search=${enc(search)}` : '');
        const res = await api('GET', `/admin/v1/tenants?${q}`);
        const items = res.data || [];
        const p = res.pagination || {total_items: 0, total_pages: 0, has_next: false, has_prev: page > 1};
        prev.disabled = !p.has_prev;
        next.disabled = !p.has_next;
        info.textContent = items.length
          ? `Page ${page} of ${p.total_pages}, ${fmt(p.total_items)} tenants`
          : (search ? 'No tenant matches' : 'No tenants');
        update(body, JSON.stringify(items), () => items.length ? table('Tenants',
          [['Name'], ['Id'], ['State'], ['Endpoints', 'num'], ['Pending', 'num'],
           ['Success rate', 'num'], ['Created']],
          items.map((t) => h('tr', {},
            h('td', {}, h('a', {href: `#/tenants/${enc(t.id)}`}, t.name)),
            h('td', {}, t.id),
            h('td', {}, t.active ? 'active' : 'deactivated'),
            h('td', {class: 'num'}, `${fmt(t.endpoints.total)}` +
              (t.endpoints.disabled ? ` (${fmt(t.endpoints.disabled)} disabled)` : '')),
            h('td', {class: 'num'}, fmt(t.pending_deliveries)),
            h('td', {class: 'num'}, rate(t.attempts.successful, t.attempts.total)),
            h('td', {}, t.created_at))), 'tenants-table') : []);
      },
    };
    input.addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => { search = input.value.trim(); page = 1; startView(view); }, 250);
    });
    prev.addEventListener('click', () => { page = Math.max(1, page - 1); startView(view); });
    next.addEventListener('click', () => { page += 1; startView(view); });
    view.stop = () => clearTimeout(debounce);
    startView(view);
    return heading;
  }

  // -- Tenant ----------------------------------------------------------------

  function tenantView(id) {
    let page = 1;
    const base = `/admin/v1/tenants/${enc(id)}`;
    const facts = h('dl', {class: 'facts', id: 'tenant-facts'});
    const tokenBox = h('div', {id: 'tenant-token', 'aria-live': 'polite'});
    const rotate = actionButton('Rotate token',
      'Rotate the token of this tenant? The current token keeps working for 24 hours, then stops.',
      async () => {
        const res = await api('POST', `${base}/tokens`, {});
        tokenBox.replaceChildren(
          h('p', {}, 'New token (shown only now; copy it to the tenant). The previous one works until ',
            res.data.previous_token_valid_until, '.'),
          h('p', {class: 'token', id: 'new-token'}, res.data.token));
        return 'Token rotated';
      });
    rotate.id = 'rotate-token';
    const prev = h('button', {type: 'button'}, 'Previous page');
    const next = h('button', {type: 'button'}, 'Next page');
    const body = h('div', {id: 'endpoints-body'});
    const heading = mount(`Tenant ${id}`, facts, h('div', {class: 'toolbar'}, rotate), tokenBox,
      h('h2', {}, 'Endpoints'), h('div', {class: 'toolbar'}, prev, next), body);
    const view = {
      refresh: async () => {
        const [t, eps] = await Promise.all([api('GET', base),
          api('GET', `${base}/endpoints?page=${page}&pageSize=${PAGE_SIZE}`).catch((e) => {
            if (e.status === 422) return {data: null, pagination: null, deactivated: true};
            throw e;
          })]);
        const d = t.data;
        heading.textContent = `Tenant ${d.name}`;
        document.title = `Tenant ${d.name} · webhook-ingress admin`;
        facts.replaceChildren(
          h('dt', {}, 'Id'), h('dd', {}, d.id),
          h('dt', {}, 'State'), h('dd', {}, d.active ? 'active' : `deactivated at ${d.deactivated_at}`),
          h('dt', {}, 'Created'), h('dd', {}, d.created_at),
          h('dt', {}, 'Owner node'), h('dd', {}, d.owner || '—'),
          h('dt', {}, 'Endpoints'), h('dd', {}, `${fmt(d.endpoints.total)} (${fmt(d.endpoints.active)} active, ` +
            `${fmt(d.endpoints.disabled)} disabled, ${fmt(d.endpoints.inactive)} inactive)`),
          h('dt', {}, 'Events held'), h('dd', {}, fmt(d.events)),
          h('dt', {}, 'Pending deliveries'), h('dd', {}, fmt(d.pending_deliveries)),
          h('dt', {}, 'Success rate'), h('dd', {}, rate(d.attempts.successful, d.attempts.total)));
        rotate.disabled = !d.active;
        const items = eps.data || [];
        const p = eps.pagination || {has_next: false, has_prev: page > 1};
        prev.disabled = !p.has_prev;
        next.disabled = !p.has_next;
        update(body, JSON.stringify(items) + (eps.deactivated ? 'x' : ''), () => items.length
          ? table('Endpoints', [['Id', 'num'], ['URL'], ['Status'], ['Event types'], ['Description']],
            items.map((ep) => h('tr', {},
              h('td', {class: 'num'}, h('a', {href: `#/tenants/${enc(id)}/endpoints/${ep.identifier}`},
                String(ep.identifier))),
              h('td', {class: 'url'}, h('a', {href: `#/tenants/${enc(id)}/endpoints/${ep.identifier}`}, ep.url)),
              h('td', {}, statusCell(ep.status)),
              h('td', {}, ep.event_types.join(', ')),
              h('td', {}, ep.description || ''))), 'endpoints-table')
          : h('p', {class: 'muted'}, eps.deactivated ? 'The tenant is deactivated: its endpoints are not listed.'
                                                     : 'No endpoints'));
      },
    };
    prev.addEventListener('click', () => { page = Math.max(1, page - 1); startView(view); });
    next.addEventListener('click', () => { page += 1; startView(view); });
    startView(view);
    return heading;
  }

  // -- Endpoint --------------------------------------------------------------

  function endpointView(tenant, eid) {
    const base = `/admin/v1/tenants/${enc(tenant)}/endpoints/${enc(eid)}`;
    const url = h('p', {class: 'url', id: 'endpoint-url'});
    const status = h('p', {id: 'endpoint-status'});
    const stats = h('div', {class: 'cards', id: 'endpoint-stats'});
    const chart = chartFigure('chart-latency', 'Latency of the recent attempts (ms, oldest left; red: failed)');
    const attempts = h('div', {id: 'attempts-body'});
    const refresh = () => view.refresh();
    const enable = actionButton('Enable', 'Enable this endpoint? Deliveries to it start again at once.',
      async () => { await api('PUT', `${base}/enable`); return 'Endpoint enabled'; }, refresh);
    const disable = actionButton('Disable', 'Disable this endpoint? Nothing is delivered to it until it is enabled.',
      async () => { await api('PUT', `${base}/disable`); return 'Endpoint disabled'; }, refresh);
    enable.id = 'endpoint-enable';
    disable.id = 'endpoint-disable';
    const heading = mount(`Endpoint ${eid}`, url, status, h('div', {class: 'toolbar'}, enable, disable),
      h('p', {}, h('a', {href: `#/tenants/${enc(tenant)}`}, 'Back to the tenant')),
      stats, h('h2', {}, 'Latency'), chart.figure, h('h2', {}, 'Recent attempts'), attempts);
    const view = {
      refresh: async () => {
        const d = (await api('GET', base)).data;
        const ep = d.endpoint;
        url.textContent = ep.url;
        status.replaceChildren('Status: ',
          h('span', {class: `status-${ep.status}`, id: 'endpoint-status-text'},
            statusWords(ep.status, d.status_reason, d.next_probe_at)));
        status.dataset.status = ep.status;
        enable.disabled = ep.status === 'active';
        disable.disabled = ep.status === 'inactive';
        stats.replaceChildren(
          card('Attempts', fmt(d.total_attempts), `${fmt(d.successful_attempts)} ok, ${fmt(d.failed_attempts)} failed`),
          card('Success rate', d.total_attempts ? `${fmt(d.success_rate, 1)}%` : '—'),
          card('p50 latency', d.total_attempts ? `${fmt(d.p50_response_time_ms, 1)} ms` : '—'),
          card('p95 latency', d.total_attempts ? `${fmt(d.p95_response_time_ms, 1)} ms` : '—'),
          card('Pending', fmt(d.pending_events), `${fmt(d.consecutive_failures)} failures in a row`));
        const recent = d.recent_attempts || [];
        latencyChart(chart.chart, recent.slice(0, 50).reverse());
        update(attempts, JSON.stringify(recent), () => recent.length
          ? table('Recent attempts', [['Time'], ['Event'], ['Attempt', 'num'], ['HTTP status', 'num'],
              ['Latency', 'num'], ['Error'], ['Action']],
            recent.map((a) => h('tr', {},
              h('td', {}, a.at), h('td', {}, a.event_id), h('td', {class: 'num'}, fmt(a.attempt)),
              h('td', {class: 'num'}, a.status_code ? String(a.status_code) : '—'),
              h('td', {class: 'num'}, `${fmt(a.latency_ms)} ms`), h('td', {}, a.error || ''),
              h('td', {}, actionButton('Resend', `Resend event ${a.event_id} to this endpoint now?`,
                async () => {
                  await api('POST', `${base}/resend`, {event_id: a.event_id});
                  return `Event ${a.event_id} scheduled again`;
                }, refresh)))), 'attempts-table')
          : h('p', {class: 'muted'}, 'No attempts yet'));
      },
    };
    startView(view);
    return heading;
  }

  // -- start -----------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', () => logout(''));
    window.addEventListener('hashchange', route);
    route();
  });
})();
