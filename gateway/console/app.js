// Tally console: one page for labelers, auditors, leads and managers, on the
// gateway's JSON API (docs/openapi.yaml). Plain JavaScript, no build step.
//
// Rules this file keeps (docs/CONSOLE.md, "Security rules the console keeps"):
// * Data from the API never becomes markup: every text goes in through
//   textContent, every URL through an element property after a scheme
//   check; innerHTML is never used. Nothing here needs 'unsafe-inline' or
//   'unsafe-eval' (no inline handlers, no eval, no style attributes: styles
//   set through the CSSOM only).
// * Every state-changing request (POST, PUT, DELETE) carries X-CSRF-Token.
// * The page shows only what the API gives: an audit task is rendered from
//   the task object as it comes, which holds no first label and no labeler.
'use strict';

(function () {
  const API = '/api/v1';
  const LONG_POLL_MS = 25000;        // wait_ms of POST /lease
  const REQUEST_TIMEOUT_MS = 15000;  // every other request
  const DASHBOARD_REFRESH_MS = 5000; // live figures
  const WELLBEING_WARN_SHARE = 0.8;  // break prompt from 80% of the budget
  const LANGUAGES = ['en', 'es', 'ja', 'ko'];
  const STAGE_FOR_ROLE = { labeler: 'label', auditor: 'audit', lead: 'adjudicate' };

  const state = {
    me: null,           // GET /me
    csrf: '',
    lang: 'en',
    projects: [],       // GET /projects
    project: '',        // the chosen project's name
    route: '',
    generation: 0,      // bumped on every route change: stale loops stop
    timers: [],         // intervals of the current view
    keyHandler: null,   // keydown handler of the current view
    abort: null,        // AbortController of the open long-poll
    work: null,         // the work view's state while one is open
    clockSkewMs: 0,     // server clock minus ours, from the Date header
  };

  // ------------------------------------------------------------ i18n

  function strings(lang) {
    const all = window.TALLY_I18N || {};
    return all[lang] || all.en || {};
  }

  // t('key', {n: 3}) -> the string of the current language with {n}
  // replaced; English when the language lacks it; the key when both do.
  function t(key, vars) {
    let s = strings(state.lang)[key];
    if (s === undefined) s = strings('en')[key];
    if (s === undefined) s = key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, (m, name) =>
        Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : m);
    }
    return s;
  }

  function pickInitialLanguage() {
    const saved = localStorage.getItem('tally_lang');
    if (saved && LANGUAGES.includes(saved)) return saved;
    const nav = (navigator.language || 'en').slice(0, 2).toLowerCase();
    return LANGUAGES.includes(nav) ? nav : 'en';
  }

  // ------------------------------------------------------------ DOM helpers

  // h('div', {className: 'x', onclick: f}, 'text', child) builds an element.
  // Props are element properties (never attributes parsed as markup);
  // 'dataset' and 'attrs' (static names only) are the two exceptions.
  // Strings and numbers become text nodes.
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null) continue;
        if (k === 'dataset') Object.assign(el.dataset, v);
        else if (k === 'attrs') for (const [a, av] of Object.entries(v)) el.setAttribute(a, av);
        else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else el[k] = v;
      }
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function $(id) { return document.getElementById(id); }

  function notice(text, kind) {
    const n = $('notice');
    n.textContent = text || '';
    n.className = 'notice ' + (kind || 'info');
    n.hidden = !text;
  }

  function fmtNumber(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return '—';
    if (typeof v !== 'number') return String(v);
    if (digits === undefined) return v.toLocaleString(state.lang);
    return v.toLocaleString(state.lang, { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function fmtTime(ms) {
    if (!ms) return '—';
    return new Date(ms).toLocaleString(state.lang);
  }

  function fmtDuration(ms) {
    if (ms === null || ms === undefined) return '—';
    const sec = Math.max(0, Math.round(ms / 1000));
    const m = Math.floor(sec / 60), r = sec % 60;
    if (m >= 60) return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
    return m + ':' + String(r).padStart(2, '0');
  }

  // Only http(s) URLs become an <img>/<video> source; anything else
  // (javascript:, data:, relative tricks) is shown as text, not loaded.
  function safeMediaUrl(raw) {
    if (typeof raw !== 'string' || raw === '') return null;
    try {
      const u = new URL(raw, window.location.href);
      return (u.protocol === 'https:' || u.protocol === 'http:') ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  // ------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message || code || ('HTTP ' + status));
      this.status = status;
      this.code = code || '';
    }
  }

  // api('POST', '/lease', body, {timeoutMs, signal}) -> parsed JSON (or null
  // for 204). Throws ApiError with the server's error code. A 401 sends the
  // person back to the sign-in page.
  async function api(method, path, body, opts) {
    opts = opts || {};
    const headers = { 'Accept': 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = state.csrf;
    const ctl = new AbortController();
    const timeoutMs = opts.timeoutMs || REQUEST_TIMEOUT_MS;
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    if (opts.signal) opts.signal.addEventListener('abort', () => ctl.abort());
    let resp;
    try {
      resp = await fetch(API + path, {
        method, headers, credentials: 'same-origin', cache: 'no-store',
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: ctl.signal,
      });
    } catch (e) {
      throw new ApiError(0, e.name === 'AbortError' ? 'TIMEOUT' : 'NETWORK', t('err.network'));
    } finally {
      clearTimeout(timer);
    }
    const date = resp.headers.get('Date');
    if (date) {
      const server = Date.parse(date);
      if (!Number.isNaN(server)) state.clockSkewMs = server - Date.now();
    }
    if (resp.status === 204) return null;
    let data = null;
    const text = await resp.text();
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    // A reply that reissues the session (sign-in, PUT /me/language) carries
    // the new session's CSRF token: the old one no longer matches.
    if (resp.ok && data && typeof data.csrf_token === 'string' && data.csrf_token) state.csrf = data.csrf_token;
    if (!resp.ok) {
      const err = (data && data.error) || {};
      const e = new ApiError(resp.status, err.code, err.message);
      if (resp.status === 401 && !opts.allow401) onSignedOut();
      throw e;
    }
    return data;
  }

  function errorText(e) {
    if (!(e instanceof ApiError)) return String(e && e.message || e);
    const known = {
      UNAUTHENTICATED: 'err.unauthenticated', RATE_LIMITED: 'err.rate_limited',
      CSRF: 'err.csrf', PERMISSION_DENIED: 'err.forbidden', STALE_LEASE: 'err.stale_lease',
      NETWORK: 'err.network', TIMEOUT: 'err.network',
    };
    if (known[e.code]) return t(known[e.code]);
    if (e.status === 403) return t('err.forbidden');
    return t('err.generic', { message: e.message });
  }

  // ------------------------------------------------------------ session

  async function boot() {
    state.lang = pickInitialLanguage();
    fillLanguageSelect();
    $('lang-select').addEventListener('change', onLanguageChange);
    $('signout').addEventListener('click', signOut);
    window.addEventListener('hashchange', () => route());
    // Leaving the page (reload, close, another site) gives a held task back
    // at once instead of when its lease expires. keepalive lets the request
    // outlive the page and, unlike sendBeacon, carry the CSRF header.
    window.addEventListener('pagehide', () => {
      if (!state.work || !state.work.task || !state.me) return;
      const lease = state.work.task.lease;
      state.work.task = null;
      fetch(API + '/release', {
        method: 'POST', keepalive: true, credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': state.csrf },
        body: JSON.stringify({ lease }),
      }).catch(() => {});
    });
    try {
      const me = await api('GET', '/me', undefined, { allow401: true });
      await signedIn(me);
    } catch (e) {
      showSignIn();
    }
  }

  async function signedIn(me) {
    state.me = me;
    state.csrf = me.csrf_token || '';
    if (me.language && LANGUAGES.includes(me.language)) setLanguage(me.language, false);
    try {
      const p = await api('GET', '/projects');
      state.projects = (p && p.projects) || [];
    } catch (e) {
      state.projects = [];
      notice(errorText(e), 'error');
    }
    const saved = localStorage.getItem('tally_project');
    const found = state.projects.find((x) => x.name === saved);
    state.project = found ? found.name : (state.projects[0] ? state.projects[0].name : '');
    renderChrome();
    route();
  }

  function onSignedOut() {
    state.me = null;
    state.csrf = '';
    stopView();
    renderChrome();
    showSignIn();
  }

  async function signOut() {
    await stopView();
    try { await api('POST', '/auth/logout', {}, { allow401: true }); } catch (e) { /* signed out anyway */ }
    history.replaceState(null, '', '#');
    onSignedOut();
  }

  function fillLanguageSelect() {
    const sel = clear($('lang-select'));
    for (const l of LANGUAGES) sel.append(h('option', { value: l }, strings(l)['lang.name'] || l));
    sel.value = state.lang;
  }

  function setLanguage(lang, save) {
    state.lang = lang;
    localStorage.setItem('tally_lang', lang);
    document.documentElement.lang = lang;
    $('lang-select').value = lang;
    if (save && state.me) {
      api('PUT', '/me/language', { language: lang })
        .then(() => { state.me.language = lang; })
        .catch((e) => notice(errorText(e), 'error'));
    }
  }

  function onLanguageChange(ev) {
    // Give the keys back to the page (1-9, S, R would otherwise pick options).
    ev.target.blur();
    setLanguage(ev.target.value, true);
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    renderChrome();
    if (state.me) rerenderKeepingWork(); else showSignIn();
  }

  function showSignIn() {
    stopView();
    renderChrome();
    const err = h('p', { id: 'signin-error', className: 'error', attrs: { role: 'alert' } });
    const person = h('input', { id: 'signin-person', name: 'person', autocomplete: 'username', required: true });
    const password = h('input', { id: 'signin-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const submit = h('button', { id: 'signin-submit', type: 'submit', className: 'primary' }, t('signin.submit'));
    const form = h('form', { className: 'card signin', id: 'signin-form' },
      h('h1', null, t('signin.title')),
      h('label', null, t('signin.person'), person),
      h('label', null, t('signin.password'), password),
      submit, err);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      submit.disabled = true;
      try {
        const me = await api('POST', '/auth/login', { person: person.value.trim(), password: password.value }, { allow401: true });
        password.value = '';
        await signedIn(me);
      } catch (e) {
        err.textContent = e.code === 'UNAUTHENTICATED' ? t('signin.wrong') : errorText(e);
        password.value = '';
        password.focus();
      } finally {
        submit.disabled = false;
      }
    });
    clear($('main')).append(form);
    person.focus();
  }

  // ------------------------------------------------------------ chrome and routes

  function roles() { return (state.me && state.me.roles) || []; }
  function hasRole(r) { return roles().includes(r); }

  // The views a person may open, in nav order. The server decides what
  // each API call may do; this only avoids showing tabs that would fail.
  function allowedRoutes() {
    const r = [];
    if (hasRole('labeler')) r.push('label');
    if (hasRole('auditor')) r.push('audit');
    if (hasRole('lead')) r.push('adjudicate');
    if (hasRole('lead') || hasRole('manager')) r.push('cases');
    if (hasRole('manager') || hasRole('lead')) r.push('dashboard');
    return r;
  }

  function defaultRoute() {
    if (hasRole('manager')) return 'dashboard';
    if (hasRole('lead')) return 'adjudicate';
    if (hasRole('auditor')) return 'audit';
    if (hasRole('labeler')) return 'label';
    return allowedRoutes()[0] || 'none';
  }

  function renderChrome() {
    $('lang-label').textContent = t('lang.label');
    $('signout').textContent = t('signout');
    $('signout').hidden = !state.me;
    $('who').textContent = state.me ? t('who', { person: state.me.person, roles: roles().map((r) => t('role.' + r)).join(', ') }) : '';
    const nav = clear($('nav'));
    if (!state.me) return;
    for (const r of allowedRoutes()) {
      nav.append(h('a', { href: '#/' + r, id: 'nav-' + r, className: r === state.route ? 'active' : '' }, t('nav.' + r)));
    }
  }

  // Ends the current view: its loops and timers stop, and a task it holds
  // is released so that it goes back to the queue at once (not when the
  // lease expires). Returns the release's promise.
  function stopView() {
    state.generation++;
    let released = Promise.resolve();
    if (state.work && state.work.task && state.me) {
      released = api('POST', '/release', { lease: state.work.task.lease }, { allow401: true }).catch(() => {});
    }
    state.work = null;
    for (const id of state.timers) clearInterval(id);
    state.timers = [];
    if (state.keyHandler) document.removeEventListener('keydown', state.keyHandler);
    state.keyHandler = null;
    if (state.abort) state.abort.abort();
    state.abort = null;
    return released;
  }

  function route() {
    if (!state.me) return;
    let r = (window.location.hash || '').replace(/^#\/?/, '');
    if (!allowedRoutes().includes(r)) r = defaultRoute();
    state.route = r;
    stopView();
    notice('');
    renderChrome();
    const main = clear($('main'));
    if (r === 'label' || r === 'audit' || r === 'adjudicate') workView(main, r);
    else if (r === 'cases') casesView(main);
    else if (r === 'dashboard') dashboardView(main);
    else main.append(h('p', { className: 'card' }, t('no_views')));
  }

  // A language change re-renders the view; a held lease is released by
  // workView's teardown only when the view changes, so the task stays.
  // A work view redraws in place: its long-poll stays open (an aborted one
  // would leave the gateway a lease to give back) and its task stays held.
  function rerenderKeepingWork() {
    if (state.work) {
      state.work.rerender();
      renderChrome();
    } else {
      route();
    }
  }

  function projectPicker(onChange) {
    const sel = h('select', { id: 'project-select' });
    for (const p of state.projects) sel.append(h('option', { value: p.name }, p.name));
    sel.value = state.project;
    sel.addEventListener('change', () => {
      state.project = sel.value;
      localStorage.setItem('tally_project', sel.value);
      onChange();
    });
    return h('label', { className: 'project' }, h('span', { dataset: { i18n: 'project' } }, t('project')), sel);
  }

  function currentProject() {
    return state.projects.find((p) => p.name === state.project) || null;
  }

  // ------------------------------------------------------------ work views

  // The labeler, auditor and lead views: one task at a time, the next one
  // long-polled as soon as the last is done (no click).
  function workView(main, stage) {
    const gen = state.generation;
    const w = {
      stage, task: null, busy: false, done: 0, revealed: false,
      countdownTimer: null, rerender: null,
    };
    state.work = w;
    const live = () => gen === state.generation;

    const status = h('p', { id: 'work-status', className: 'status' });
    const countdown = h('span', { id: 'lease-countdown', className: 'countdown' });
    const doneCount = h('span', { id: 'done-count', className: 'done' });
    const taskBox = h('section', { id: 'task', className: 'card task' });
    const side = h('aside', { className: 'side' });
    const wellbeing = h('section', { id: 'wellbeing', className: 'card wellbeing' });
    const feedback = h('section', { id: 'feedback', className: 'card feedback' });
    side.append(wellbeing);
    if (stage === 'label') side.append(feedback);

    const title = h('h1', null, t('stage.' + stage));
    main.append(
      h('div', { className: 'toolbar' },
        title,
        projectPicker(() => route()),
        doneCount, countdown),
      status,
      h('div', { className: 'work' }, taskBox, side));

    if (!state.project) { status.textContent = t('no_projects'); return; }

    function setStatus(key, vars) { status.textContent = key ? t(key, vars) : ''; }
    function showDone() { doneCount.textContent = t('work.done', { n: w.done }); }
    showDone();

    function stopCountdown() {
      if (w.countdownTimer) clearInterval(w.countdownTimer);
      w.countdownTimer = null;
      countdown.textContent = '';
      countdown.classList.remove('urgent');
    }

    function startCountdown() {
      stopCountdown();
      const tick = () => {
        if (!live() || !w.task) { stopCountdown(); return; }
        // The server's clock is known to a second (Date header): never show
        // more than the project's lease length.
        const project = currentProject();
        let left = w.task.deadline_ms - (Date.now() + state.clockSkewMs);
        if (project && project.lease_seconds) left = Math.min(left, project.lease_seconds * 1000);
        countdown.textContent = t('work.lease_left', { time: fmtDuration(left) });
        countdown.classList.toggle('urgent', left < 30000);
        if (left <= 0) {
          stopCountdown();
          w.task = null;
          renderTask();
          notice(t('work.lease_expired'), 'warn');
          nextTask();
        }
      };
      tick();
      w.countdownTimer = setInterval(tick, 1000);
      state.timers.push(w.countdownTimer);
    }

    function renderContent(task) {
      const c = task.content || {};
      const box = h('div', { id: 'task-content', className: 'content' });
      if (c.text) box.append(h('p', { id: 'task-text', className: 'text' }, c.text));
      const url = safeMediaUrl(c.media_url);
      if (c.media_url && !url) {
        box.append(h('p', { className: 'error' }, t('work.media_refused'), ' ', h('code', null, c.media_url)));
      } else if (url && c.media_type === 'video') {
        box.append(h('video', { id: 'task-media', src: url, controls: true, muted: true, preload: 'metadata', className: 'media' }));
      } else if (url) {
        box.append(h('img', { id: 'task-media', src: url, alt: t('work.media_alt'), className: 'media', referrerPolicy: 'no-referrer' }));
      }
      if (task.severity_hint && !w.revealed) {
        box.classList.add('blurred');
        const reveal = h('button', { id: 'reveal', type: 'button', className: 'reveal' }, t('work.reveal'));
        const wrap = h('div', { className: 'content-wrap' }, box, reveal);
        const doReveal = () => { w.revealed = true; box.classList.remove('blurred'); reveal.remove(); };
        reveal.addEventListener('click', doReveal);
        box.addEventListener('click', doReveal);
        return wrap;
      }
      return h('div', { className: 'content-wrap' }, box);
    }

    function labelButtons(task, onPick) {
      const labels = task.labels || (currentProject() || {}).labels || [];
      const row = h('div', { className: 'labels', id: 'labels' });
      labels.forEach((label, i) => {
        const key = i < 9 ? String(i + 1) : '';
        row.append(h('button', {
          type: 'button', className: 'label-btn', dataset: { label, key },
          onclick: () => onPick(label),
        }, key ? h('kbd', null, key) : null, ' ', label));
      });
      return row;
    }

    function renderTask() {
      clear(taskBox);
      const task = w.task;
      if (!task) {
        taskBox.append(h('p', { className: 'waiting', id: 'waiting' }, t('work.waiting')));
        return;
      }
      const meta = h('p', { className: 'meta' },
        h('span', { id: 'task-item' }, t('work.item', { id: task.item_id })), ' · ',
        h('span', null, t('work.market', { market: task.market })),
        task.priority && task.priority !== 'normal'
          ? h('span', { className: 'priority ' + task.priority }, t('priority.' + task.priority)) : null);
      taskBox.append(meta, renderContent(task));
      if (stage === 'adjudicate') {
        renderAdjudication(task);
      } else {
        taskBox.append(labelButtons(task, submit));
        taskBox.append(h('div', { className: 'actions' },
          h('button', { type: 'button', id: 'skip', onclick: skip }, h('kbd', null, 'S'), ' ', t('work.skip')),
          h('button', { type: 'button', id: 'release', onclick: release }, h('kbd', null, 'R'), ' ', t('work.release'))));
        taskBox.append(h('p', { className: 'hint' }, t('work.keys_hint')));
      }
    }

    // The lead sees the two candidate labels in the order the API gives
    // (shuffled there; which is the labeler's and which the auditor's is
    // not said), picks the final label, optionally marks the policy unclear
    // and leaves a note.
    function renderAdjudication(task) {
      const cands = task.candidates || [];
      const list = h('ol', { className: 'candidates', id: 'candidates' });
      cands.forEach((c, i) => list.append(h('li', null,
        h('span', { className: 'cand-name' }, t('adj.candidate', { which: String.fromCharCode(65 + i) })), ' ',
        h('strong', { className: 'cand-label' }, c))));
      const unclear = h('input', { type: 'checkbox', id: 'adj-unclear' });
      const note = h('textarea', { id: 'adj-note', rows: 2, maxLength: 2000 });
      w.adjForm = { unclear, note };
      taskBox.append(
        h('h2', null, t('adj.candidates')), list,
        h('h2', null, t('adj.final')),
        labelButtons(task, (label) => submit(label)),
        h('label', { className: 'check' }, unclear, ' ', t('adj.policy_unclear')),
        h('label', null, t('adj.note'), note),
        h('div', { className: 'actions' },
          h('button', { type: 'button', id: 'skip', onclick: skip }, h('kbd', null, 'S'), ' ', t('work.skip')),
          h('button', { type: 'button', id: 'release', onclick: release }, h('kbd', null, 'R'), ' ', t('work.release'))));
    }

    w.rerender = () => {
      title.textContent = t('stage.' + stage);
      showDone();
      if (!w.task) setStatus('work.waiting_status');
      renderTask();
      renderWellbeing(w.lastWellbeing);
      if (stage === 'label') refreshFeedback();
    };

    async function finish(path, body, doneKey) {
      if (!w.task || w.busy) return;
      w.busy = true;
      const task = w.task;
      try {
        await api('POST', path, Object.assign({ lease: task.lease }, body));
        if (doneKey === 'submitted') { w.done++; showDone(); }
        notice(t('work.' + doneKey, { id: task.item_id }), 'ok');
      } catch (e) {
        notice(errorText(e), 'error');
        if (!(e instanceof ApiError) || (e.status !== 409 && e.status !== 404)) {
          w.busy = false;
          return; // keep the task: the person may try again
        }
      }
      w.busy = false;
      w.task = null;
      stopCountdown();
      renderTask();
      refreshWellbeing();
      if (stage === 'label') refreshFeedback();
      nextTask();
    }

    function submit(label) {
      const body = { label };
      if (stage === 'adjudicate' && w.adjForm) {
        if (w.adjForm.unclear.checked) body.attribution = 'policy_unclear';
        if (w.adjForm.note.value.trim()) body.note = w.adjForm.note.value.trim();
      }
      return finish('/submit', body, 'submitted');
    }
    function skip() { return finish('/skip', {}, 'skipped'); }
    function release() { return finish('/release', {}, 'released'); }

    // Long-poll loop: one POST /lease at a time while the view is open and
    // no task is held. Errors back off (1 s doubling to 30 s).
    let polling = false;
    async function nextTask() {
      if (polling || !live() || w.task) return;
      polling = true;
      let backoff = 1000;
      setStatus('work.waiting_status');
      while (live() && !w.task) {
        state.abort = new AbortController();
        try {
          const r = await api('POST', '/lease',
            { project: state.project, stage, wait_ms: LONG_POLL_MS },
            { timeoutMs: LONG_POLL_MS + 10000, signal: state.abort.signal });
          backoff = 1000;
          if (!live()) break;
          if (r && r.task) {
            w.task = r.task;
            w.revealed = false;
            setStatus('');
            renderTask();
            startCountdown();
          }
        } catch (e) {
          if (!live()) break;
          if (e.status === 401) break;
          setStatus('work.retrying', { message: errorText(e) });
          await new Promise((res) => setTimeout(res, backoff));
          backoff = Math.min(backoff * 2, 30000);
        }
      }
      polling = false;
    }

    // Wellbeing: exposure against the budget; a break prompt from 80%.
    function renderWellbeing(wb) {
      clear(wellbeing);
      wellbeing.append(h('h2', null, t('wb.title')));
      if (!wb) { wellbeing.append(h('p', null, '—')); return; }
      const budget = wb.budget || 0;
      wellbeing.append(h('p', { id: 'exposure' },
        budget ? t('wb.exposure_of', { n: wb.exposure, budget }) : t('wb.exposure', { n: wb.exposure })));
      if (budget) {
        const m = h('meter', { min: 0, max: budget, low: budget * 0.6, high: budget * WELLBEING_WARN_SHARE, optimum: 0, value: wb.exposure });
        wellbeing.append(m);
      }
      if (wb.shift_ends_ms) wellbeing.append(h('p', { className: 'muted' }, t('wb.shift_ends', { time: fmtTime(wb.shift_ends_ms) })));
      const near = wb.break_suggested || (budget > 0 && wb.exposure >= budget * WELLBEING_WARN_SHARE);
      if (near && !w.breakDismissed) {
        const box = h('div', { className: 'break', id: 'break-prompt', attrs: { role: 'alert' } },
          h('p', null, t('wb.break')),
          h('button', { type: 'button', onclick: () => { w.breakDismissed = true; box.remove(); } }, t('wb.continue')));
        wellbeing.append(box);
      }
    }

    async function refreshWellbeing() {
      try {
        const wb = await api('GET', '/wellbeing?project=' + encodeURIComponent(state.project));
        if (!live()) return;
        w.lastWellbeing = wb;
        renderWellbeing(wb);
      } catch (e) {
        if (live()) renderWellbeing(null);
      }
    }

    async function refreshFeedback() {
      try {
        const r = await api('GET', '/feedback?project=' + encodeURIComponent(state.project) + '&limit=50');
        if (!live()) return;
        clear(feedback).append(h('h2', null, t('fb.title')));
        /* Where the person stands: closed audits only (nothing pending). */
        const st = ((r && r.standing) || []).find((x) => x.project === state.project);
        if (st) {
          feedback.append(h('p', { className: 'fb-standing' }, t('fb.standing', { correct: st.correct, judged: st.judged })));
          if (st.ramp === 'ramping') feedback.append(h('p', { className: 'muted' }, t('fb.ramping', { n: st.ramp_audits, target: st.ramp_target })));
          else if (st.ramp === 'done') feedback.append(h('p', { className: 'muted' }, t('fb.ramp_done')));
        }
        const rows = (r && r.feedback) || [];
        if (!rows.length) { feedback.append(h('p', { className: 'muted' }, t('fb.none'))); return; }
        const ul = h('ul', { className: 'fb-list' });
        for (const f of rows) {
          ul.append(h('li', { className: f.correct ? 'ok' : 'wrong' },
            h('span', { className: 'fb-mark' }, f.correct ? '✓' : '✗'), ' ',
            t('fb.row', { id: f.item_id, yours: f.your_label, final: f.final_label }),
            f.note ? h('span', { className: 'fb-note' }, ' — ', f.note) : null));
        }
        feedback.append(ul);
      } catch (e) {
        if (live()) clear(feedback).append(h('h2', null, t('fb.title')), h('p', { className: 'error' }, errorText(e)));
      }
    }

    state.keyHandler = (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const tag = (ev.target && ev.target.tagName) || '';
      if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') return;
      if (!w.task) return;
      const k = ev.key;
      if (k >= '1' && k <= '9') {
        const labels = w.task.labels || (currentProject() || {}).labels || [];
        const label = labels[Number(k) - 1];
        if (label !== undefined) { ev.preventDefault(); submit(label); }
      } else if (k === 's' || k === 'S') { ev.preventDefault(); skip(); }
      else if (k === 'r' || k === 'R') { ev.preventDefault(); release(); }
    };
    document.addEventListener('keydown', state.keyHandler);

    renderTask();
    refreshWellbeing();
    if (stage === 'label') refreshFeedback();
    state.timers.push(setInterval(refreshWellbeing, 30000));
    if (stage === 'label') state.timers.push(setInterval(refreshFeedback, 60000));
    nextTask();
  }

  // ------------------------------------------------------------ tables

  // table(rows, columns): columns are [key, headerText, format?]; rows are
  // plain objects from the API. Cells are text only.
  function table(rows, columns, id) {
    const thead = h('thead', null, h('tr', null, columns.map((c) => h('th', null, c[1]))));
    const tbody = h('tbody');
    for (const r of rows) {
      tbody.append(h('tr', null, columns.map((c) => {
        const v = r[c[0]];
        const text = c[2] ? c[2](v, r) : (typeof v === 'number' ? fmtNumber(v) : (v === null || v === undefined ? '—' : (Array.isArray(v) ? v.join(', ') : String(v))));
        return h('td', { className: typeof v === 'number' ? 'num' : '' }, text);
      })));
    }
    return h('table', { className: 'data', id: id || undefined }, thead, tbody);
  }

  // Figures between 0 and 1 (or -1 and 1): always three decimals, so that
  // 1 and 0 line up with 0.750.
  const FRACTIONS = new Set(['accuracy', 'accuracy_low', 'accuracy_high', 'agreement', 'kappa', 'alpha',
    'skip_rate', 'breach_rate']);

  // Columns for rows whose exact fields we do not know in advance: the
  // union of their keys, objects shown as JSON text.
  function autoColumns(rows, preferred) {
    const keys = [];
    for (const k of preferred || []) if (rows.some((r) => k in r)) keys.push(k);
    for (const r of rows) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
    return keys.map((k) => [k, t('col.' + k) === 'col.' + k ? k : t('col.' + k), (v) => {
      if (v === null || v === undefined) return '—';
      if (typeof v === 'number') {
        if (k.endsWith('_ms') && v > 1e12) return fmtTime(v);
        return fmtNumber(v, FRACTIONS.has(k) || !Number.isInteger(v) ? 3 : undefined);
      }
      if (typeof v === 'object') return JSON.stringify(v);
      return String(v);
    }]);
  }

  function autoTable(rows, preferred, id) {
    if (!rows || !rows.length) return h('p', { className: 'muted', id: id || undefined }, t('none'));
    return table(rows, autoColumns(rows, preferred), id);
  }

  // Only the named columns (those some row has), in that order.
  function pickTable(rows, keys, id) {
    if (!rows || !rows.length) return h('p', { className: 'muted', id: id || undefined }, t('none'));
    const present = keys.filter((k) => rows.some((r) => k in r));
    return table(rows, autoColumns(rows.map((r) => Object.fromEntries(present.map((k) => [k, r[k]]))), present), id);
  }

  // ------------------------------------------------------------ cases

  function casesView(main) {
    const q = h('input', { id: 'cases-q', type: 'search', placeholder: t('cases.q') });
    const attribution = h('select', { id: 'cases-attribution' },
      ['', 'labeler', 'auditor', 'both', 'policy_unclear'].map((a) => h('option', { value: a }, a ? t('attr.' + a) : t('cases.any'))));
    const labeler = h('input', { id: 'cases-labeler', placeholder: t('cases.labeler') });
    const pair = h('input', { id: 'cases-pair', placeholder: t('cases.pair') });
    const market = h('input', { id: 'cases-market', placeholder: t('cases.market'), size: 6 });
    const results = h('div', { id: 'cases-results' });
    const form = h('form', { className: 'card filters', id: 'cases-form' },
      q, attribution, labeler, pair, market,
      h('button', { type: 'submit', className: 'primary' }, t('cases.search')));
    const gen = state.generation;
    async function search(ev) {
      if (ev) ev.preventDefault();
      const params = new URLSearchParams({ project: state.project, limit: '100' });
      if (q.value.trim()) params.set('q', q.value.trim());
      if (attribution.value) params.set('attribution', attribution.value);
      if (labeler.value.trim()) params.set('labeler', labeler.value.trim());
      if (pair.value.trim()) params.set('pair', pair.value.trim());
      if (market.value.trim()) params.set('market', market.value.trim());
      clear(results).append(h('p', { className: 'muted' }, t('loading')));
      try {
        const r = await api('GET', '/cases?' + params.toString());
        if (gen !== state.generation) return;
        const rows = ((r && r.cases) || []).map((c) => Object.assign({}, c));
        clear(results).append(h('p', { className: 'muted' }, t('cases.count', { n: rows.length })),
          pickTable(rows.map((c) => Object.assign(c, { content: typeof c.content === 'string' && c.content.length > 120 ? c.content.slice(0, 120) + '…' : c.content })),
            ['item_id', 'market', 'final_label', 'label_a', 'label_b', 'attribution', 'lead', 'note', 'closed_ms', 'content'], 'cases-table'));
      } catch (e) {
        clear(results).append(h('p', { className: 'error' }, errorText(e)));
      }
    }
    form.addEventListener('submit', search);
    main.append(h('div', { className: 'toolbar' }, h('h1', null, t('nav.cases')), projectPicker(() => route())), form, results);
    if (state.project) search();
  }

  // ------------------------------------------------------------ charts (inline SVG)

  // Accuracy per labeler: one bar per row (accuracy) with a whisker for its
  // 95% Wilson interval [accuracy_low, accuracy_high]. Values in 0..1.
  function accuracyChart(rows) {
    const data = rows.filter((r) => typeof r.accuracy === 'number');
    if (!data.length) return h('p', { className: 'muted' }, t('none'));
    const rowH = 22, left = 140, right = 100, width = 640, top = 24;
    const height = top + data.length * rowH + 24;
    const plotW = width - left - right;
    const x = (v) => left + Math.max(0, Math.min(1, v)) * plotW;
    const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img', class: 'chart', id: 'chart-accuracy' });
    svg.append(s('title', {}, t('dash.accuracy_chart')));
    for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
      svg.append(s('line', { x1: x(tick), x2: x(tick), y1: top - 4, y2: height - 20, class: 'grid' }));
      svg.append(s('text', { x: x(tick), y: height - 6, 'text-anchor': 'middle', class: 'axis' }, fmtNumber(tick * 100) + '%'));
    }
    data.forEach((r, i) => {
      const y = top + i * rowH;
      const g = s('g', { class: 'bar-row', 'data-group': r.group });
      g.append(s('text', { x: left - 8, y: y + rowH * 0.65, 'text-anchor': 'end', class: 'label' }, String(r.group)));
      g.append(s('rect', { x: left, y: y + 4, width: Math.max(0, x(r.accuracy) - left), height: rowH - 8, class: 'bar' },
        s('title', {}, `${r.group}: ${fmtNumber(r.accuracy * 100, 1)}% [${fmtNumber((r.accuracy_low ?? NaN) * 100, 1)}–${fmtNumber((r.accuracy_high ?? NaN) * 100, 1)}], n=${r.judged ?? r.audits ?? '—'}`)));
      if (typeof r.accuracy_low === 'number' && typeof r.accuracy_high === 'number') {
        const cy = y + rowH / 2;
        g.append(s('line', { x1: x(r.accuracy_low), x2: x(r.accuracy_high), y1: cy, y2: cy, class: 'whisker' }));
        g.append(s('line', { x1: x(r.accuracy_low), x2: x(r.accuracy_low), y1: cy - 5, y2: cy + 5, class: 'whisker' }));
        g.append(s('line', { x1: x(r.accuracy_high), x2: x(r.accuracy_high), y1: cy - 5, y2: cy + 5, class: 'whisker' }));
      }
      g.append(s('text', { x: width - right + 6, y: y + rowH * 0.65, class: 'value' },
        `${fmtNumber(r.accuracy * 100, 1)}% (${r.judged ?? r.audits ?? '—'})`));
      svg.append(g);
    });
    return svg;
  }

  // κ and α per group, side by side; undefined coefficients are drawn as
  // "—", never as 0. Values in -1..1, the axis from 0 (negatives clipped
  // and marked).
  function agreementChart(rows, id) {
    if (!rows.length) return h('p', { className: 'muted' }, t('none'));
    const rowH = 30, left = 140, right = 90, width = 640, top = 20;
    const height = top + rows.length * rowH + 24;
    const plotW = width - left - right;
    const x = (v) => left + Math.max(0, Math.min(1, v)) * plotW;
    const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img', class: 'chart', id });
    for (const tick of [0, 0.2, 0.4, 0.6, 0.8, 1]) {
      svg.append(s('line', { x1: x(tick), x2: x(tick), y1: top - 4, y2: height - 20, class: 'grid' }));
      svg.append(s('text', { x: x(tick), y: height - 6, 'text-anchor': 'middle', class: 'axis' }, fmtNumber(tick, 1)));
    }
    rows.forEach((r, i) => {
      const y = top + i * rowH;
      svg.append(s('text', { x: left - 8, y: y + rowH * 0.6, 'text-anchor': 'end', class: 'label' }, String(r.group)));
      [['kappa', 'bar kappa', 2], ['alpha', 'bar alpha', rowH / 2]].forEach(([k, cls, dy]) => {
        const v = r[k];
        if (typeof v === 'number') {
          svg.append(s('rect', { x: left, y: y + dy, width: Math.max(1, x(v) - left), height: rowH / 2 - 3, class: cls },
            s('title', {}, `${k === 'kappa' ? 'κ' : 'α'} ${fmtNumber(v, 3)}`)));
        }
      });
      svg.append(s('text', { x: width - right + 6, y: y + rowH * 0.6, class: 'value' },
        `κ ${fmtNumber(r.kappa, 2)} α ${fmtNumber(r.alpha, 2)}`));
    });
    return svg;
  }

  // Confusion: rows the labeler's label, columns the auditor's; cell shade
  // by share of its row (set through the CSSOM, not a style attribute).
  function confusionTable(r, id) {
    const labels = (r && r.labels) || [];
    const m = (r && r.matrix) || [];
    id = id || 'confusion-table';
    if (!labels.length) return autoTable((r && r.rows) || [], null, id);
    const thead = h('thead', null, h('tr', null, h('th', null, t('dash.labeler_vs_auditor')), labels.map((l) => h('th', null, l))));
    const tbody = h('tbody');
    labels.forEach((l, i) => {
      const row = m[i] || [];
      const total = row.reduce((a, b) => a + (b || 0), 0);
      tbody.append(h('tr', null, h('th', null, l), labels.map((_, j) => {
        const v = row[j] || 0;
        const td = h('td', { className: 'num' + (i === j ? ' diag' : '') }, fmtNumber(v));
        if (total && v) td.style.setProperty('--share', String(v / total));
        return td;
      })));
    });
    return h('table', { className: 'data confusion', id }, thead, tbody);
  }

  // ------------------------------------------------------------ dashboard

  function dashboardView(main) {
    const gen = state.generation;
    const live = () => gen === state.generation;
    const updated = h('span', { id: 'dash-updated', className: 'muted' });
    const sections = {};
    function section(key) {
      const body = h('div', { className: 'section-body' });
      const el = h('section', { className: 'card dash', id: 'dash-' + key }, h('h2', null, t('dash.' + key)), body);
      sections[key] = body;
      return el;
    }
    const canManage = hasRole('manager');
    main.append(
      h('div', { className: 'toolbar' }, h('h1', null, t('nav.dashboard')), projectPicker(() => route()), updated),
      h('div', { className: 'grid' },
        section('ops'), section('quality_labeler'), section('agreement_market'),
        section('agreement_category'), section('confusion'), section('policy_gaps')),
      h('div', { className: 'grid' },
        section('allocation'), section('audit_policy'), section('wellbeing')));
    if (!state.project) { updated.textContent = t('no_projects'); return; }
    const P = 'project=' + encodeURIComponent(state.project);

    async function load(key, path, render) {
      try {
        const r = await api('GET', path);
        if (!live()) return;
        clear(sections[key]).append(render(r || {}));
      } catch (e) {
        if (live()) clear(sections[key]).append(h('p', { className: 'error' }, errorText(e)));
      }
    }

    function opsRender(r) {
      const frag = document.createDocumentFragment();
      frag.append(h('h3', null, t('dash.backlog')),
        // oldest_ms is the age of the oldest waiting item of the market.
        pickTable((r.queues || []).map((q) => Object.assign({}, q, { oldest_age: typeof q.oldest_ms === 'number' ? fmtDuration(q.oldest_ms) : '—' })),
          ['market', 'stage', 'depth', 'oldest_age'], 'ops-queues'));
      // The ops rows are keyed by market ("key"); each table shows the
      // figures of its kind.
      const columns = {
        throughput: ['key', 'completed', 'items_done', 'completed_per_day', 'arrival_per_day', 'skip_rate', 'handling_p50_ms'],
        sla: ['key', 'items_done', 'sla_breaches', 'breach_rate', 'turnaround_p50_hours', 'turnaround_p90_hours'],
        capacity: ['key', 'backlog', 'labeler_hours', 'throughput_per_labeler_hour', 'time_to_clear_days', 'labelers_needed'],
      };
      for (const k of ['throughput', 'sla', 'capacity']) {
        if (r[k]) frag.append(h('h3', null, t('dash.' + k)), pickTable(r[k], columns[k], 'ops-' + k));
      }
      return frag;
    }

    // A labeler's accuracy is against the final label (the auditor's when
    // they agree, the lead's verdict otherwise): labeler_final. The row's
    // own "accuracy" is agreement with the auditor, shown beside it.
    function withFinal(row) {
      const f = row.labeler_final;
      if (!f || typeof f !== 'object') return row;
      return Object.assign({}, row, {
        agreement: row.accuracy, accuracy: f.value, accuracy_low: f.low, accuracy_high: f.high, judged: f.judged,
      });
    }

    function qualityRender(r) {
      const rows = (r.rows || []).map(withFinal);
      const frag = document.createDocumentFragment();
      frag.append(accuracyChart(rows), pickTable(rows, ['group', 'labels', 'audits', 'judged', 'accuracy', 'accuracy_low', 'accuracy_high', 'agreement', 'kappa', 'alpha', 'adjudications'], 'quality-labeler-table'));
      return frag;
    }

    function agreementRender(id) {
      return (r) => {
        const rows = (r.rows || []).map(withFinal);
        const frag = document.createDocumentFragment();
        frag.append(agreementChart(rows, 'chart-' + id), pickTable(rows, ['group', 'labels', 'audits', 'kappa', 'alpha', 'accuracy', 'agreement'], id + '-table'));
        return frag;
      };
    }

    function refresh() {
      // Only the figures refresh; the forms below keep what is being typed.
      if (!live()) return;
      Promise.all([
        load('ops', '/reports/ops?' + P, opsRender),
        load('quality_labeler', '/reports/quality?' + P + '&by=labeler', qualityRender),
        load('agreement_market', '/reports/quality?' + P + '&by=market', agreementRender('agreement-market')),
        load('agreement_category', '/reports/quality?' + P + '&by=category', agreementRender('agreement-category')),
        load('confusion', '/reports/confusion?' + P, (r) => confusionTable(r, 'confusion-table')),
        // Policy gaps: the adjudications called policy-unclear, by the
        // labeler's and the auditor's label.
        load('policy_gaps', '/reports/policy-gaps?' + P, (r) => confusionTable(r, 'policy-gaps-table')),
      ]).then(() => {
        if (live()) updated.textContent = t('dash.updated', { time: new Date().toLocaleTimeString(state.lang) });
      });
    }

    refresh();
    state.timers.push(setInterval(refresh, DASHBOARD_REFRESH_MS));
    allocationSection(sections.allocation, canManage, live);
    auditPolicySection(sections.audit_policy, canManage);
    wellbeingSection(sections.wellbeing, canManage);
  }

  // Labelers x markets: a checkbox per (person, market); a change sends
  // PUT /labelers/{id} with add_markets or remove_markets (managers only;
  // others see the same grid read-only).
  async function allocationSection(body, canManage, live) {
    const project = currentProject();
    const markets = (project && project.markets) || [];
    try {
      const r = await api('GET', '/labelers');
      if (!live()) return;
      const people = (r && r.labelers) || [];
      const thead = h('thead', null, h('tr', null, h('th', null, t('col.person')), h('th', null, t('col.roles')), markets.map((m) => h('th', null, m))));
      const tbody = h('tbody');
      for (const p of people) {
        const mine = new Set(p.markets || []);
        tbody.append(h('tr', null, h('td', null, p.id), h('td', null, (p.roles || []).join(', ')),
          markets.map((m) => {
            const box = h('input', { type: 'checkbox', checked: mine.has(m), disabled: !canManage, dataset: { person: p.id, market: m }, className: 'alloc' });
            box.addEventListener('change', async () => {
              box.disabled = true;
              const bodyReq = box.checked ? { add_markets: [m] } : { remove_markets: [m] };
              try {
                await api('PUT', '/labelers/' + encodeURIComponent(p.id), bodyReq);
                notice(t('saved'), 'ok');
              } catch (e) {
                box.checked = !box.checked;
                notice(errorText(e), 'error');
              } finally {
                box.disabled = !canManage;
              }
            });
            return h('td', { className: 'center' }, box);
          })));
      }
      clear(body).append(h('table', { className: 'data', id: 'allocation-table' }, thead, tbody));
    } catch (e) {
      clear(body).append(h('p', { className: 'error' }, errorText(e)));
    }
  }

  function numberField(id, label, value, attrs) {
    const input = h('input', Object.assign({ id, type: 'number', value: value ?? '' }, attrs || {}));
    return [h('label', null, label, input), input];
  }

  function auditPolicySection(body, canManage) {
    const p = currentProject() || {};
    const ap = p.audit_policy || {};
    const [rateL, rate] = numberField('ap-rate', t('ap.rate'), ap.rate, { min: 0, max: 1, step: 0.01 });
    const markets = h('input', { id: 'ap-markets', value: Object.entries(ap.market_rates || {}).map(([m, r]) => m + '=' + r).join(','), placeholder: 'es=0.3,ja=0.2' });
    const [rrL, rampRate] = numberField('ap-ramp-rate', t('ap.ramp_rate'), ap.ramp_rate, { min: 0, max: 1, step: 0.01 });
    const [raL, rampAudits] = numberField('ap-ramp-audits', t('ap.ramp_audits'), ap.ramp_audits, { min: 0, step: 1 });
    const [rtL, rampTarget] = numberField('ap-ramp-target', t('ap.ramp_target'), ap.ramp_target, { min: 0, max: 1, step: 0.01 });
    const save = h('button', { type: 'submit', className: 'primary', disabled: !canManage }, t('save'));
    const form = h('form', { id: 'audit-policy-form', className: 'form' }, rateL, h('label', null, t('ap.markets'), markets), rrL, raL, rtL, save);
    for (const el of form.querySelectorAll('input')) el.disabled = !canManage;
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const req = {};
      if (rate.value !== '') req.rate = Number(rate.value);
      if (rampRate.value !== '') req.ramp_rate = Number(rampRate.value);
      if (rampAudits.value !== '') req.ramp_audits = Number(rampAudits.value);
      if (rampTarget.value !== '') req.ramp_target = Number(rampTarget.value);
      const m = {};
      for (const part of markets.value.split(',').map((x) => x.trim()).filter(Boolean)) {
        const [k, v] = part.split('=');
        if (!k || v === undefined || Number.isNaN(Number(v))) { notice(t('ap.markets_bad'), 'error'); return; }
        m[k.trim()] = Number(v);
      }
      // Per-market rates are sent when there are some now or were before
      // (an emptied field clears them); otherwise they stay as they are.
      if (Object.keys(m).length || Object.keys(ap.market_rates || {}).length) req.market_rates = m;
      try {
        await api('PUT', '/projects/' + encodeURIComponent(state.project) + '/audit-policy', req);
        notice(t('saved'), 'ok');
      } catch (e) { notice(errorText(e), 'error'); }
    });
    clear(body).append(form);
  }

  function wellbeingSection(body, canManage) {
    const p = currentProject() || {};
    const wb = p.wellbeing || {};
    const high = h('input', { id: 'wb-high', value: (wb.high_severity || []).join(','), disabled: !canManage });
    const [bL, budget] = numberField('wb-budget', t('wbset.budget'), wb.exposure_budget, { min: 0, max: 100000, step: 1, disabled: !canManage });
    const shift = h('select', { id: 'wb-shift', disabled: !canManage }, [1, 2, 3, 4, 6, 8, 12, 24].map((n) => h('option', { value: String(n) }, String(n))));
    shift.value = String(wb.shift_hours || 8);
    const save = h('button', { type: 'submit', className: 'primary', disabled: !canManage }, t('save'));
    const form = h('form', { id: 'wellbeing-form', className: 'form' },
      h('label', null, t('wbset.high'), high), bL, h('label', null, t('wbset.shift'), shift), save);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const req = {
        high_severity: high.value.split(',').map((x) => x.trim()).filter(Boolean),
        shift_hours: Number(shift.value),
      };
      if (budget.value !== '') req.exposure_budget = Number(budget.value);
      try {
        await api('PUT', '/projects/' + encodeURIComponent(state.project) + '/wellbeing', req);
        notice(t('saved'), 'ok');
      } catch (e) { notice(errorText(e), 'error'); }
    });
    clear(body).append(form);
  }

  document.addEventListener('DOMContentLoaded', boot);
})();
