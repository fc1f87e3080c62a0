// saring moderation page: a plain ES2020 module, no framework, no build step.
// Rules kept throughout:
//  * Everything from a comment reaches the page only as text (textContent, text nodes, plain
//    attributes); there is no innerHTML anywhere. No inline styles or scripts (the CSP forbids them).
//  * The moderator key lives in memory and sessionStorage only.
//  * A decision is never dropped silently: pending (undoable) for 5 s, then sent; a failure stays
//    on the comment with Retry.

import { t, has, getLang, setLang, onLangChange, applyI18n, fmtRel, fmtAbs, fmtDay, fmtNum, fmtPct, fmtWeight } from './i18n.js';

const API = 'api/v1/';        // relative, so a path prefix in front of the page works too
const UNDO_MS = 5000;
const PAGE_SIZE = 100;
const MAX_IDS = 500;          // per resolve call
const WATCHDOG_MS = 45000;    // pings come every 15 s
const VERDICTS = ['approve', 'reject_spam', 'reject_other'];

const $ = (id) => document.getElementById(id);
const str = (v) => (typeof v === 'string' ? v : v == null ? '' : String(v));
const arr = (v) => (Array.isArray(v) ? v : []);
const enc = encodeURIComponent;
const nonNeg = (v) => Math.max(0, Number(v) || 0);

/** An element with a class, text and attributes (all set as text / plain attributes). */
function h(tag, cls, text, attrs) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = String(text);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  return e;
}
function svg(tag, attrs, text) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  if (text != null) e.textContent = text;
  return e;
}
const button = (label, cls, attrs) => h('button', cls, label, { type: 'button', ...attrs });
const kbd = (k) => h('kbd', null, k, { 'aria-hidden': 'true' });

// ---- storage (this tab only)
const KEYS = ['key', 'name', 'site'];
const store = {
  get(k) { try { return sessionStorage.getItem('saring.' + k) || ''; } catch { return ''; } },
  set(k, v) { try { sessionStorage.setItem('saring.' + k, v); } catch { /* storage off */ } },
  clear() { try { for (const k of KEYS) sessionStorage.removeItem('saring.' + k); } catch { /* */ } },
};

// ---- state
const S = {
  key: '', name: '', session: null, site: '',
  items: new Map(),   // held_id -> entry { id, n, item, seq, state, verdict, error, action, el, cb, stateEl }
  order: [],          // held_ids by sequence; the DOM follows this order
  gone: new Set(),    // ids known resolved: a re-list never brings them back
  selected: new Set(),
  current: '', anchor: '',
  nextToken: '', listed: false, listGen: 0, loadingMore: false, waiting: null,
  filters: { reason: '', min: null, max: null },
  codes: new Set(),
  actions: new Map(), // aid -> { aid, site, verdict, ids: Set, timer, toast }
  aseq: 0, eseq: 0, watch: null, authLost: false,
  stats: null, model: null,
};
// entry states: waiting, pending (undo window), sending, failed, conflict (someone else decided)
const actionable = (en) => !!en && (en.state === 'waiting' || en.state === 'failed');

// ---- API
class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}
const isStatus = (e, st) => e instanceof ApiError && e.status === st;
const errText = (e) => (e instanceof ApiError && e.code !== 'NETWORK' ? `${e.message} (${e.code})` : str(e && e.message) || String(e));

async function request(path, { method = 'GET', body, signal, keepalive = false, key = S.key, accept = 'application/json' } = {}) {
  const headers = { Authorization: 'Bearer ' + key, Accept: accept };
  const init = { method, headers, signal, keepalive, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    headers['X-Saring-Request'] = '1';
    init.body = JSON.stringify(body ?? {});
  }
  let res;
  try { res = await fetch(API + path, init); } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK', t('err.network'));
  }
  if (!res.ok) {
    let er = {};
    try { er = (await res.json()).error || {}; } catch { /* not JSON */ }
    throw new ApiError(res.status, str(er.code) || 'HTTP_' + res.status, str(er.message) || res.statusText || t('err.http', { status: res.status }));
  }
  return res;
}
async function api(path, opts) {
  const res = await request(path, opts);
  let data = null;
  try { data = await res.json(); } catch { /* below */ }
  if (!data || typeof data !== 'object') throw new ApiError(res.status, 'BAD_RESPONSE', t('err.badResponse'));
  return data;
}
const sitePath = (rest, site = S.site) => `sites/${enc(site)}/${rest}`;
function heldQuery(token) {
  const q = new URLSearchParams({ limit: PAGE_SIZE });
  const f = S.filters;
  if (token) q.set('page_token', token);
  if (f.reason) q.set('reason_code', f.reason);
  if (f.min != null) q.set('min_probability', f.min / 100);
  if (f.max != null) q.set('max_probability', f.max / 100);
  return sitePath('held?' + q);
}

// ---- announcements and toasts
let announceTimer;
let announcing = '';
// The live region is emptied and written 60 ms later, so the same text is announced again too. Messages
// that come within those 60 ms are joined, not dropped: an undo and a send finishing at once must both
// be heard.
function announce(msg) {
  announcing = announcing ? announcing + ' ' + msg : msg;
  $('status').textContent = '';
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { $('status').textContent = announcing; announcing = ''; }, 60);
}
function note(msg, kind = 'info', ms = 5000) {
  const box = h('div', 'toast note ' + kind);
  const close = button(t('btn.dismiss'), 'btn ghost small');
  close.onclick = () => box.remove();
  box.append(h('span', 'toast-text', msg), close);
  $('toasts').append(box);
  if (ms) setTimeout(() => box.remove(), ms);
  announce(msg);
  return box;
}
// One note for failed decisions however many calls failed (a phone has no room for a stack of
// them): each failure replaces it with the count of failed comments on the page now.
let failedNote = null;
function noteFailed(failed) {
  if (failedNote) failedNote.remove();
  failedNote = note(t('failed.some', { n: failedIds().length || failed }), 'error', 8000);
}
// Live events come in bursts (another moderator's bulk action): report them grouped.
const burst = { list: [], timer: 0, held: 0, heldTimer: 0 };
function noteElsewhere(name, verdict, who) {
  burst.list.push({ name, verdict, who });
  clearTimeout(burst.timer);
  burst.timer = setTimeout(() => {
    const l = burst.list;
    burst.list = [];
    note(l.length === 1 ? t('elsewhere.one', { ...l[0], verdict: verdictText(l[0].verdict) }) : t('elsewhere.many', { n: l.length }));
  }, 400);
}
function noteHeld() {
  burst.held++;
  clearTimeout(burst.heldTimer);
  burst.heldTimer = setTimeout(() => { announce(t('newHeld', { n: burst.held })); burst.held = 0; }, 800);
}

// ---- display helpers
const verdictKey = (v) => str(v).toLowerCase().replace(/^verdict_/, ''); // 'VERDICT_APPROVE' → 'approve'
const verdictText = (v) => { const n = verdictKey(v); return VERDICTS.includes(n) ? t('verdict.' + n) : str(v); };
const reasonLabel = (code) => (has('reason.' + code) ? t('reason.' + code) : code);
const authorName = (it) => str(it.author_name).trim() || t('item.anon');
const parseTime = (v) => Date.parse(str(v)); // NaN when invalid
const dayText = (d) => { const ms = parseTime(str(d) + 'T00:00:00Z'); return Number.isFinite(ms) ? fmtDay(ms) : str(d); };
const prob = (p) => { const n = Number(p); return Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0; };
const roleText = (sess) => t('who', { role: t(sess.role === 'admin' ? 'role.admin' : 'role.moderator'), key: str(sess.key_id) });

const INVISIBLE = /[\u00AD\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;

// ---- one item
/** The text as text nodes, with <mark> around the highlight spans (UTF-16 offsets). */
function renderContent(text, highlights) {
  const frag = document.createDocumentFragment();
  const n = text.length;
  const low = (i) => i > 0 && i < n && /[\uDC00-\uDFFF]/.test(text[i]) && /[\uD800-\uDBFF]/.test(text[i - 1]);
  let pos = 0;
  for (const hl of arr(highlights)) {
    let a = hl && hl.start, b = hl && hl.end;
    const w = Number(hl && hl.weight);
    if (!Number.isInteger(a) || !Number.isInteger(b) || !w) continue;
    if (low(a)) a--;                              // never split a surrogate pair
    if (low(b)) b++;
    if (a < pos || b <= a || b > n) continue;     // overlapping, unsorted or out of range
    if (a > pos) frag.append(text.slice(pos, a));
    const aw = Math.abs(w);
    frag.append(h('mark', `hl ${w > 0 ? 'spam' : 'ham'} ${aw >= 1 ? 'w3' : aw >= 0.4 ? 'w2' : 'w1'}`, text.slice(a, b),
      { title: t(w > 0 ? 'hl.spam' : 'hl.ham', { w: fmtWeight(w) }) }));
    pos = b;
  }
  if (pos < n) frag.append(text.slice(pos));
  return frag;
}

function probBar(p) {
  const wrap = h('span', 'prob ' + (p >= 0.8 ? 'high' : p >= 0.5 ? 'mid' : 'low'), null, { role: 'img', 'aria-label': t('prob.aria', { p: fmtPct(p) }) });
  const bar = svg('svg', { viewBox: '0 0 100 8', preserveAspectRatio: 'none', class: 'probbar', 'aria-hidden': 'true' });
  bar.append(svg('rect', { class: 'track', width: 100, height: 8, rx: 2 }), svg('rect', { class: 'fill', width: (p * 100).toFixed(1), height: 8, rx: 2 }));
  for (const x of [50, 80]) bar.append(svg('line', { class: 'tick', x1: x, x2: x, y1: 0, y2: 8 }));
  wrap.append(bar, h('span', 'prob-num', t('prob.label', { p: fmtPct(p) })));
  return wrap;
}

function renderReasons(reasons) {
  const ul = h('ul', 'reasons');
  const tokens = [];
  for (const r of arr(reasons)) {
    if (!r || typeof r !== 'object') continue;
    const code = str(r.code);
    if (code === 'model.token') { tokens.push(r); continue; }
    const li = h('li', 'reason');
    li.append(h('span', 'reason-label', reasonLabel(code)), ' ', h('code', 'code', code));
    if (str(r.detail)) li.append(' ', h('span', 'reason-detail', str(r.detail)));
    ul.append(li);
  }
  if (tokens.length) {
    const li = h('li', 'reason');
    const chips = h('span', 'chips');
    tokens.sort((x, y) => Number(y.weight) - Number(x.weight));
    for (const r of tokens) {
      const w = Number(r.weight) || 0;
      const c = h('span', 'chip ' + (w > 0 ? 'spam' : 'ham'));
      c.append(h('span', 'chip-w', fmtWeight(w)), ' ', h('span', 'chip-f', str(r.detail)));
      chips.append(c, ' ');
    }
    li.append(h('span', 'reason-label', t('reason.tokens')), ' ', h('code', 'code', 'model.token'), ' ', chips);
    ul.append(li);
  }
  return ul;
}

function buildItem(en) {
  const it = en.item;
  const name = authorName(it);
  const id = 'item-' + en.n;
  const art = h('article', 'item', null, { id, tabindex: '-1', 'data-id': en.id, 'aria-labelledby': id + '-h' });

  const head = h('div', 'item-head');
  const cb = h('input', 'sel-cb', null, { type: 'checkbox', 'aria-label': t('item.select', { name }) });
  const who = h('h2', 'author', null, { id: id + '-h' });
  who.append(h('bdi', null, name));
  const when = h('span', 'when');
  const ms = parseTime(it.held_at);
  if (Number.isFinite(ms)) {
    when.append(h('time', 'rel', t('item.heldAt', { rel: fmtRel(ms) }), { datetime: new Date(ms).toISOString(), 'data-ms': ms, title: fmtAbs(ms) }),
      h('span', 'abs', fmtAbs(ms)));
  } else when.append(h('span', 'abs', str(it.held_at)));
  head.append(cb, who, when, probBar(prob(it.spam_probability)));

  const body = h('div', 'item-body');
  const text = str(it.content);
  const content = h('div', 'content', null, { dir: 'auto' });
  if (/^[a-z]{2,3}(-[a-z0-9]{2,8})*$/i.test(str(it.lang))) content.lang = str(it.lang);
  content.append(text ? renderContent(text, it.highlights) : h('span', 'muted', t('item.empty')));
  body.append(content);
  if (text.length > 1400 || (text.match(/\n/g) || []).length > 18) {
    art.classList.add('clamped');
    body.append(button(t('item.showAll', { n: fmtNum(text.length) }), 'btn ghost small show-all', { 'data-act': 'expand', 'aria-expanded': 'false' }));
  }
  // invisible and direction-changing characters can make a text read other than it is
  const inv = (text + str(it.author_name)).match(INVISIBLE);
  if (inv) body.append(h('p', 'flag', t('flag.invisible', { n: inv.length })));
  body.append(renderReasons(it.reasons));

  // author and origin, all as text (a URL is never a link)
  const dl = h('dl', 'meta');
  for (const [key, v, always, wide] of [['email', it.author_email, 1], ['url', it.author_url, 1], ['ip', it.user_ip], ['lang', it.lang],
    ['campaign', it.campaign_id], ['permalink', it.permalink, 0, 1], ['ua', it.user_agent, 0, 1], ['id', it.held_id]]) {
    const val = str(v);
    if (!val && !always) continue;
    const row = h('div', wide ? 'meta-row wide' : 'meta-row');
    row.append(h('dt', null, t('meta.' + key)), h('dd', val ? '' : 'muted', val || t('meta.none'), { dir: 'auto' }));
    dl.append(row);
  }
  body.append(dl);

  const acts = h('div', 'actions', null, { role: 'group', 'aria-label': t('item.actions', { name }) });
  for (const [v, k, cls] of [['approve', 'a', 'approve'], ['reject_spam', 's', 'spam'], ['reject_other', 'r', 'other']]) {
    const b = button(null, 'btn ' + cls, { 'data-act': v });
    b.append(h('span', null, t('act.' + v)), ' ', kbd(k));
    acts.append(b);
  }
  const state = h('div', 'state'); // announced through the page's one status region
  art.append(head, body, acts, state);
  Object.assign(en, { el: art, cb, stateEl: state });
  paintState(en);
  return art;
}

function paintState(en) {
  const el = en.el;
  if (!el) return;
  for (const c of ['pending', 'sending', 'failed', 'conflict']) el.classList.toggle(c, en.state === c);
  el.classList.toggle('selected', S.selected.has(en.id));
  el.classList.toggle('current', S.current === en.id);
  en.cb.checked = S.selected.has(en.id);
  en.cb.disabled = !actionable(en);
  const st = en.stateEl;
  const v = verdictText(en.verdict);
  st.replaceChildren();
  if (en.state === 'pending') st.append(h('span', null, t('pending.item', { verdict: v })), button(t('btn.undo'), 'btn small primary', { 'data-act': 'undo' }));
  else if (en.state === 'sending') st.append(h('span', null, t('sending.item', { verdict: v })));
  else if (en.state === 'failed') st.append(h('span', null, t('failed.item', { verdict: v, msg: en.error })), button(t('btn.retry'), 'btn small warn', { 'data-act': 'retry' }));
  else if (en.state === 'conflict') st.append(h('span', null, en.error), button(t('btn.dismiss'), 'btn small', { 'data-act': 'dismiss' }));
}

// ---- the queue model
function seqOf(it) { const n = Number(it.sequence); return Number.isFinite(n) ? n : parseTime(it.held_at) || 0; }

function upsert(it) {
  const id = str(it && it.held_id);
  if (!id) return;
  for (const r of arr(it.reasons)) if (r && str(r.code)) addCode(str(r.code));
  const old = S.items.get(id);
  if (old) { old.item = it; return; }
  const en = { id, n: ++S.eseq, item: it, seq: seqOf(it), state: 'waiting', verdict: '', error: '', action: null };
  S.items.set(id, en);
  // insert by sequence (oldest first) without moving what is already there
  let lo = 0, hi = S.order.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (S.items.get(S.order[mid]).seq <= en.seq) lo = mid + 1; else hi = mid; }
  const before = lo < S.order.length ? S.items.get(S.order[lo]).el : null;
  S.order.splice(lo, 0, id);
  $('list').insertBefore(buildItem(en), before);
}

function removeEntry(id) {
  const en = S.items.get(id);
  if (!en) return;
  const hadFocus = en.el.contains(document.activeElement);
  const next = S.current === id ? neighbour(id, 1) || neighbour(id, -1) : null;
  if (en.action) { en.action.ids.delete(id); refreshToast(en.action); }
  S.items.delete(id);
  S.order.splice(S.order.indexOf(id), 1);
  S.selected.delete(id);
  if (S.anchor === id) S.anchor = '';
  en.el.remove();
  if (next !== null) setCurrent(next, hadFocus);
  refreshCounts();
}

function markGone(id) {
  if (S.gone.has(id)) return;
  S.gone.add(id);
  if (S.gone.size > 20000) S.gone.delete(S.gone.values().next().value);
  if (S.waiting != null) S.waiting = Math.max(0, S.waiting - 1);
}

function neighbour(id, dir, pred = actionable) {
  for (let i = S.order.indexOf(id) + dir; i >= 0 && i < S.order.length; i += dir) if (pred(S.items.get(S.order[i]))) return S.order[i];
  return '';
}

function setCurrent(id, focus = true) {
  const prev = S.items.get(S.current);
  if (prev) prev.el.classList.remove('current');
  S.current = id || '';
  const en = S.items.get(S.current);
  if (!en) return;
  en.el.classList.add('current');
  if (!focus) return;
  en.el.focus({ preventScroll: true });
  // bring its top just under the sticky bar, unless it is wholly in view already
  const r = en.el.getBoundingClientRect();
  const top = $('bulkbar').offsetHeight + 12;
  if (r.top < top || r.bottom > innerHeight) scrollBy(0, r.top - top);
}

function resetQueue() { // callers have sent the pending decisions first (flushAll)
  for (const a of S.actions.values()) cancelAction(a);
  S.items.clear(); S.gone.clear(); S.selected.clear(); S.codes.clear();
  Object.assign(S, { order: [], current: '', anchor: '', nextToken: '', listed: false, waiting: null });
  S.listGen++;
  $('list').replaceChildren();
  $('toasts').replaceChildren();
  buildReasonSelect();
  refreshCounts();
}

// ---- listing
function matches(it) {
  const f = S.filters, p = prob(it.spam_probability);
  return !(f.reason && !arr(it.reasons).some((r) => r && r.code === f.reason))
    && !(f.min != null && p < f.min / 100 - 1e-9) && !(f.max != null && p > f.max / 100 + 1e-9);
}

/** Read the queue from the start, as many pages as were shown, and merge: what this page knows
 *  (pending, failed…) stays; waiting items the server no longer lists go. Used on every (re)connect. */
async function relist({ merge = true } = {}) {
  const gen = ++S.listGen;
  const want = merge ? Math.max(PAGE_SIZE, S.order.length) : PAGE_SIZE;
  const got = [];
  let token = '', waiting = null, pages = 0;
  $('banner').hidden = true;
  if (!S.listed) $('loading').hidden = false;
  try {
    do {
      const r = await api(heldQuery(token));
      if (gen !== S.listGen) return;
      got.push(...arr(r.items).filter((x) => x && typeof x === 'object'));
      token = str(r.next_page_token);
      if (Number.isFinite(Number(r.waiting))) waiting = Number(r.waiting);
    } while (token && got.length < want && ++pages < 50);
  } catch (e) {
    if (gen !== S.listGen) return;
    $('loading').hidden = true;
    if (isStatus(e, 401)) authLost(errText(e));
    else showBanner(t('queue.loadFailed', { msg: errText(e) }), relist);
    return;
  }
  const ids = new Set(got.map((it) => str(it.held_id)));
  const lastSeq = token && got.length ? seqOf(got[got.length - 1]) : Infinity;
  for (const id of [...S.order]) {
    const en = S.items.get(id);
    if (en.state === 'waiting' && !ids.has(id) && en.seq <= lastSeq) removeEntry(id);
  }
  for (const it of got) if (!S.gone.has(str(it.held_id))) upsert(it);
  Object.assign(S, { nextToken: token, waiting, listed: true });
  $('loading').hidden = true;
  if (!S.items.has(S.current)) setCurrent(S.order.find((id) => actionable(S.items.get(id))), false);
  refreshCounts();
}

async function loadMore() {
  if (!S.nextToken || S.loadingMore) return;
  S.loadingMore = true;
  const gen = S.listGen;
  try {
    const r = await api(heldQuery(S.nextToken));
    if (gen !== S.listGen) return;
    for (const it of arr(r.items)) if (it && !S.gone.has(str(it.held_id))) upsert(it);
    S.nextToken = str(r.next_page_token);
    if (Number.isFinite(Number(r.waiting))) S.waiting = Number(r.waiting);
  } catch (e) {
    if (isStatus(e, 401)) authLost(errText(e));
    else showBanner(t('queue.loadFailed', { msg: errText(e) }), loadMore);
  } finally {
    S.loadingMore = false;
    refreshCounts();
  }
}

let bannerRetry = null;
function showBanner(msg, retry) {
  $('banner-text').textContent = msg;
  bannerRetry = retry;
  $('banner').hidden = false;
}

// ---- counts, selection
function refreshCounts() {
  const filtered = anyFilter();
  $('waiting').textContent = S.waiting == null ? '' : '· ' + t('queue.waiting', { n: fmtNum(S.waiting), count: S.waiting });
  $('empty').hidden = !(S.listed && !S.order.length);
  $('empty').textContent = t(filtered ? 'queue.emptyFiltered' : 'queue.empty');
  $('more').hidden = !S.nextToken;
  for (const id of S.selected) if (!actionable(S.items.get(id))) S.selected.delete(id);
  const n = S.selected.size;
  const selectable = S.order.filter((id) => actionable(S.items.get(id))).length;
  const all = $('sel-all');
  all.checked = selectable > 0 && n === selectable;
  all.indeterminate = n > 0 && n < selectable;
  all.disabled = !selectable;
  $('sel-n').textContent = t('bulk.selected', { n });
  for (const x of ['sel-count', 'sel-clear', 'bulk-actions']) $(x).hidden = !n;
  $('sel-hint').hidden = n > 0 || !S.order.length;
  $('f-badge').hidden = !filtered;
  $('f-badge').textContent = t('filters.active');
  const failed = S.order.filter((id) => S.items.get(id).state === 'failed').length;
  $('retry-all').hidden = !failed;
  $('retry-all').textContent = t('bulk.retryFailed', { n: failed });
  document.title = (S.waiting ? `(${fmtNum(S.waiting)}) ` : '') + t('app.title');
}

function setSelected(id, on) {
  const en = S.items.get(id);
  if (!en) return;
  if (on && actionable(en)) S.selected.add(id); else S.selected.delete(id);
  paintState(en);
}
function selectRange(from, to, on) {
  const a = S.order.indexOf(from), b = S.order.indexOf(to);
  if (a < 0 || b < 0) return setSelected(to, on);
  for (let i = Math.min(a, b); i <= Math.max(a, b); i++) setSelected(S.order[i], on);
}
function clearSelection() {
  for (const id of [...S.selected]) setSelected(id, false);
  refreshCounts();
}

// ---- deciding, undo, sending
function newAction(verdict, ids) {
  const a = { aid: ++S.aseq, site: S.site, verdict, ids: new Set(ids), timer: 0, toast: null };
  for (const id of ids) Object.assign(S.items.get(id), { state: 'pending', verdict, error: '', action: a });
  return a;
}

function decide(verdict, ids) {
  const list = ids.filter((id) => actionable(S.items.get(id)));
  if (!list.length) return;
  const ae = document.activeElement;
  const moveFocus = ae === document.body || !!(ae && ae.closest('.item, .bulkbar'));
  const a = newAction(verdict, list);
  for (const id of list) { S.selected.delete(id); paintState(S.items.get(id)); }
  S.actions.set(a.aid, a);
  a.timer = setTimeout(() => send(a), UNDO_MS);
  makeToast(a);
  announce(t('pending.' + verdict, { n: list.length }) + '. ' + t('pending.undoHint'));
  const last = list.reduce((m, id) => (S.order.indexOf(id) > S.order.indexOf(m) ? id : m));
  if (list.includes(S.current) || !S.current) setCurrent(neighbour(last, 1) || neighbour(last, -1), moveFocus);
  else if (moveFocus) setCurrent(S.current);
  refreshCounts();
}

function makeToast(a) {
  const box = h('div', 'toast action');
  const b = button(t('btn.undo'), 'btn small primary');
  b.append(' ', kbd('u'));
  b.onclick = () => undo(a.aid);
  box.append(h('span', 'toast-text'), b, h('span', 'countdown', null, { 'aria-hidden': 'true' }));
  $('toasts').append(box);
  a.toast = box;
  refreshToast(a);
}
function refreshToast(a) {
  if (!a.toast) return;
  if (!a.ids.size) cancelAction(a);
  else a.toast.firstChild.textContent = t('pending.' + a.verdict, { n: a.ids.size });
}
function cancelAction(a) {
  clearTimeout(a.timer);
  S.actions.delete(a.aid);
  if (a.toast) a.toast.remove();
  a.toast = null;
}
function backToWaiting(id, a) {
  const en = S.items.get(id);
  if (!en || en.action !== a) return false;
  Object.assign(en, { action: null, state: 'waiting', verdict: '' });
  paintState(en);
  return true;
}

/** Undo an action (by default the latest one) while it is still pending. */
function undo(aid) {
  const a = aid ? S.actions.get(aid) : [...S.actions.values()].pop();
  if (!a) return announce(t('undo.none'));
  const ids = [...a.ids];
  cancelAction(a);
  for (const id of ids) backToWaiting(id, a);
  announce(t('undo.done', { n: ids.length }));
  const first = S.order.find((id) => a.ids.has(id));
  if (first) setCurrent(first);
  refreshCounts();
}
function undoOne(id) {
  const en = S.items.get(id);
  const a = en && en.state === 'pending' && en.action;
  if (!a) return;
  a.ids.delete(id);
  refreshToast(a);
  backToWaiting(id, a);
  announce(t('undo.done', { n: 1 }));
  setCurrent(id);
  refreshCounts();
}

/** Send an action now. Every call uses keepalive, so it completes even if the tab closes;
 *  `leaving` (pagehide) skips the fallback below, which could not finish anyway. */
async function send(a, leaving = false) {
  cancelAction(a);
  const ids = [...a.ids];
  for (const id of ids) { const en = S.items.get(id); if (en && en.action === a) { Object.assign(en, { state: 'sending', action: null }); paintState(en); } }
  let ok = 0, failed = 0;
  for (let i = 0; i < ids.length; i += MAX_IDS) {
    const chunk = ids.slice(i, i + MAX_IDS);
    const opts = { method: 'POST', body: { held_ids: chunk, verdict: a.verdict, moderator: S.name, note: '' } };
    let res;
    try {
      // browsers cap keepalive bodies (64 KB in flight in all): if that refuses it, send it plainly
      try { res = await api(sitePath('resolve', a.site), { ...opts, keepalive: true }); } catch (e) {
        if (leaving || !(e instanceof ApiError && e.code === 'NETWORK')) throw e;
        res = await api(sitePath('resolve', a.site), opts);
      }
    } catch (e) {
      for (const id of chunk) fail(id, a.verdict, errText(e));
      failed += chunk.length;
      if (isStatus(e, 401)) authLost(errText(e));
      continue;
    }
    const by = new Map(arr(res.results).filter((r) => r && r.held_id != null).map((r) => [str(r.held_id), r]));
    for (const id of chunk) {
      const r = by.get(id);
      const outcome = str(r && r.outcome);
      if (outcome === 'resolved' || outcome === 'already_resolved') { // already_resolved: same verdict, e.g. a retry
        markGone(id);
        if (a.site === S.site) removeEntry(id);
        ok++;
      } else if (outcome === 'conflict' || outcome === 'not_found') {
        markGone(id);
        conflict(id, a.verdict, r);
      } else {
        fail(id, a.verdict, outcome || t('failed.noAnswer'));
        failed++;
      }
    }
  }
  if (ok) announce(t('done', { n: ok, verdict: verdictText(a.verdict) }));
  if (failed) noteFailed(failed);
  refreshCounts();
}

function fail(id, verdict, msg) {
  const en = S.items.get(id);
  if (!en) return;
  Object.assign(en, { state: 'failed', verdict, error: msg, action: null });
  paintState(en);
}
function conflict(id, mine, r) {
  const en = S.items.get(id);
  if (!en) return;
  const res = r.resolution || {};
  const ms = parseTime(res.at);
  const error = r.outcome === 'not_found' ? t('notfound.item', { mine: verdictText(mine) }) : t('conflict.item', {
    who: str(res.moderator) || t('conflict.someone'), verdict: verdictText(res.verdict),
    when: Number.isFinite(ms) ? fmtAbs(ms) : '', mine: verdictText(mine),
  });
  Object.assign(en, { state: 'conflict', verdict: mine, action: null, error });
  S.selected.delete(id);
  paintState(en);
  note(error, 'warn', 8000);
}

/** Send failed decisions again, at once (no second undo window). */
function retry(ids) {
  const by = new Map();
  for (const id of ids) {
    const en = S.items.get(id);
    if (en && en.state === 'failed') by.set(en.verdict, [...(by.get(en.verdict) || []), id]);
  }
  for (const [verdict, list] of by) send(newAction(verdict, list));
}
const failedIds = () => S.order.filter((id) => S.items.get(id).state === 'failed');

/** Send every pending action now (site switch, sign-out, tab hidden or closed). */
const flushAll = (leaving = false) => Promise.all([...S.actions.values()].map((a) => send(a, leaving)));

// ---- live stream
function setLive(state) {
  $('live').dataset.state = state;
  $('live-text').textContent = t('live.' + state);
}

function startWatch() {
  stopWatch();
  const w = { stopped: false, ctrl: null, wake: null, attempt: 0, site: S.site };
  S.watch = w;
  (async () => {
    while (!w.stopped) {
      w.ctrl = new AbortController();
      setLive(w.attempt ? 'reconnecting' : 'connecting');
      let connected = false;
      try {
        const res = await request(sitePath('watch', w.site), { signal: w.ctrl.signal, accept: 'application/x-ndjson' });
        if (!res.body) throw new ApiError(0, 'NO_STREAM', t('err.badResponse'));
        connected = true;
        w.attempt = 0;
        setLive('live');
        relist(); // subscribed first, then read: nothing that happens meanwhile is missed
        await readStream(res.body, w);
      } catch (e) {
        if (w.stopped) return;
        if (isStatus(e, 401)) return authLost(errText(e));
        if (isStatus(e, 403)) showBanner(t('err.forbidden', { msg: errText(e) }), relist);
        if (!connected && !S.listed) relist(); // show the queue even while the stream is down
      }
      if (w.stopped) return;
      w.attempt++;
      setLive(navigator.onLine === false ? 'offline' : 'reconnecting');
      const wait = Math.min(30000, 1000 * 2 ** (w.attempt - 1)) * (0.5 + Math.random() / 2);
      await new Promise((done) => { const tm = setTimeout(done, wait); w.wake = () => { clearTimeout(tm); done(); }; });
      w.wake = null;
    }
  })();
}
function stopWatch() {
  const w = S.watch;
  if (!w) return;
  w.stopped = true;
  if (w.ctrl) w.ctrl.abort();
  if (w.wake) w.wake();
  S.watch = null;
}
const wakeWatch = () => S.watch && S.watch.wake && S.watch.wake();

async function readStream(body, w) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '', dog = 0;
  const arm = () => { clearTimeout(dog); dog = setTimeout(() => w.ctrl.abort(), WATCHDOG_MS); };
  arm();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || w.stopped) return;
      arm();
      buf += value;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        let ev;
        try { ev = JSON.parse(line); } catch { continue; }
        if (ev && ev.error) { // a stream may end with an error line, e.g. when the key is revoked
          const code = str(ev.error.code);
          throw new ApiError({ UNAUTHENTICATED: 401, PERMISSION_DENIED: 403 }[code] || 0, code, str(ev.error.message));
        }
        if (w.site === S.site) onEvent(ev);
      }
      if (buf.length > 8e6) throw new Error('line too long');
    }
  } finally {
    clearTimeout(dog);
    reader.cancel().catch(() => {});
  }
}

function onEvent(ev) {
  if (!ev || typeof ev !== 'object') return;
  if (ev.kind === 'held') {
    const it = ev.item;
    const id = str(it && it.held_id);
    if (!id || S.gone.has(id) || S.items.has(id)) return;
    if (S.waiting != null) S.waiting++;
    // while older pages are still unread, it will come with them, in order
    if (matches(it) && !(S.listed && S.nextToken)) {
      upsert(it);
      noteHeld();
      if (!S.current) setCurrent(id, false);
    }
    refreshCounts();
  } else if (ev.kind === 'resolved') {
    const id = str(ev.held_id);
    if (!id) return;
    markGone(id);
    const en = S.items.get(id);
    // 'sending': our own call is in flight and its answer decides; 'conflict': already shown
    if (en && ['waiting', 'failed', 'pending'].includes(en.state)) {
      const name = authorName(en.item), who = str(ev.moderator) || t('conflict.someone');
      // the same verdict as ours: nothing was lost (a call that "failed" may have been applied, its answer lost)
      const same = verdictKey(ev.verdict) === en.verdict;
      if (en.state === 'waiting') noteElsewhere(name, ev.verdict, who);
      else if (same) note(t('elsewhere.same', { name, who, verdict: verdictText(ev.verdict) }));
      else note(t('elsewhere.pending', { name, who, verdict: verdictText(ev.verdict), mine: verdictText(en.verdict) }), 'warn', 8000);
      removeEntry(id);
    }
    refreshCounts();
  } // 'ping' and unknown kinds: nothing (the read re-armed the watchdog)
}

// ---- stats and model
async function loadStats() {
  const site = S.site;
  try {
    const st = await api(sitePath('stats'));
    if (site !== S.site) return;
    renderStats(st);
    $('stats-error').hidden = true;
  } catch (e) {
    if (site !== S.site) return;
    $('stats-error').textContent = t('stats.failed', { msg: errText(e) });
    $('stats-error').hidden = false;
  }
}

function renderStats(st) {
  S.stats = st;
  const today = st.today || {};
  $('st-a').textContent = fmtNum(nonNeg(today.accept));
  $('st-h').textContent = fmtNum(nonNeg(today.hold));
  $('st-r').textContent = fmtNum(nonNeg(today.reject));
  const days = arr(st.days).slice(-30).map((d) => ({ date: str(d && d.date), v: [nonNeg(d && d.accept), nonNeg(d && d.hold), nonNeg(d && d.reject)] }));
  const W = 300, H = 96, base = 80, slot = W / Math.max(days.length, 1), bw = Math.max(2, slot - 2);
  const max = Math.max(1, ...days.map((d) => d.v[0] + d.v[1] + d.v[2]));
  const tot = [0, 0, 0];
  const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img' });
  const pat = svg('pattern', { id: 'hatch', width: 4, height: 4, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' });
  pat.append(svg('rect', { class: 'hatch-bg', width: 4, height: 4 }), svg('line', { class: 'hatch-line', x1: 0, y1: 0, x2: 0, y2: 4 }));
  const defs = svg('defs');
  defs.append(pat);
  g.append(defs, svg('line', { class: 'axis', x1: 0, x2: W, y1: base + 0.5, y2: base + 0.5 }));
  days.forEach((d, i) => {
    const [a, hd, r] = d.v;
    const col = svg('g', { class: 'day' });
    col.append(svg('title', {}, t('stats.bar', { date: dayText(d.date), a: fmtNum(a), h: fmtNum(hd), r: fmtNum(r) })));
    let y = base;
    ['accept', 'hold', 'reject'].forEach((cls, k) => {
      tot[k] += d.v[k];
      if (!d.v[k]) return;
      const hh = Math.max(0.75, (d.v[k] / max) * (base - 4));
      y -= hh;
      col.append(svg('rect', { class: cls, x: (i * slot + (slot - bw) / 2).toFixed(2), y: y.toFixed(2), width: bw.toFixed(2), height: hh.toFixed(2) }));
    });
    col.append(svg('rect', { class: 'hit', x: (i * slot).toFixed(2), y: 0, width: slot.toFixed(2), height: base })); // easy tooltip target
    g.append(col);
  });
  if (days.length) g.append(svg('text', { class: 'lbl', x: 0, y: H - 2 }, dayText(days[0].date)), svg('text', { class: 'lbl end', x: W, y: H - 2 }, dayText(days[days.length - 1].date)));
  g.setAttribute('aria-label', t('stats.chart', { a: fmtNum(tot[0]), h: fmtNum(tot[1]), r: fmtNum(tot[2]) }));
  $('chart').replaceChildren(g);

  const hr = h('tr');
  for (const k of ['date', 'accept', 'hold', 'reject']) hr.append(h('th', null, t('stats.' + k), { scope: 'col' }));
  const thead = h('thead'), tb = h('tbody');
  thead.append(hr);
  for (const d of days.slice().reverse()) {
    const tr = h('tr');
    tr.append(h('th', null, d.date, { scope: 'row' }), ...d.v.map((x) => h('td', null, fmtNum(x))));
    tb.append(tr);
  }
  $('stats-table').replaceChildren(thead, tb);
}

async function loadModel() {
  try { S.model = await api('model'); renderModel(); } catch { /* not essential */ }
}
function renderModel() {
  const m = S.model, el = $('model');
  const ms = m ? parseTime(m.loaded_at) : NaN;
  el.textContent = m ? t('model.label', { v: str(m.version) }) + (Number.isFinite(ms) ? ' · ' + t('model.loaded', { when: fmtRel(ms) }) : '') : '';
  el.title = Number.isFinite(ms) ? fmtAbs(ms) : '';
}

// ---- filters
const anyFilter = () => !!(S.filters.reason || S.filters.min != null || S.filters.max != null);
let rsTimer = 0;
function addCode(code) {
  if (S.codes.has(code)) return;
  S.codes.add(code);
  if (!rsTimer) rsTimer = setTimeout(() => { rsTimer = 0; buildReasonSelect(); });
}
/** The reason select offers the codes present in the items seen on this site. */
function buildReasonSelect() {
  const codes = new Set(S.codes);
  if (S.filters.reason) codes.add(S.filters.reason);
  const opts = [h('option', null, t('filters.allReasons'), { value: '' })];
  for (const c of [...codes].sort()) opts.push(h('option', null, `${reasonLabel(c)} (${c})`, { value: c }));
  $('f-reason').replaceChildren(...opts);
  $('f-reason').value = S.filters.reason;
}

let filterTimer = 0;
function applyFilters() {
  clearTimeout(filterTimer);
  const num = (el) => (el.value.trim() === '' ? null : Number(el.value));
  const min = num($('f-min')), max = num($('f-max'));
  const bad = [min, max].some((v) => v !== null && !(v >= 0 && v <= 100)) || (min != null && max != null && min > max);
  $('f-error').hidden = !bad;
  $('f-error').textContent = bad ? t('filters.bad') : '';
  for (const x of ['f-min', 'f-max']) $(x).setAttribute('aria-invalid', bad);
  const f = { reason: $('f-reason').value, min, max };
  if (bad || (f.reason === S.filters.reason && f.min === S.filters.min && f.max === S.filters.max)) return;
  S.filters = f;
  // drop only what merely waits; decisions pending, in flight or failed stay in sight
  for (const id of [...S.order]) if (S.items.get(id).state === 'waiting') removeEntry(id);
  Object.assign(S, { nextToken: '', listed: false });
  relist({ merge: false });
}

// ---- sign-in, sites, sign-out
function sitesOf(sess) {
  const raw = arr(sess.sites).map(str).filter(Boolean);
  const all = sess.role === 'admin' || raw.includes('*');
  return [...new Set([...raw.filter((x) => x !== '*'), ...(all ? arr(sess.known_sites).map(str).filter(Boolean) : [])])];
}

function showSignIn(msg, noteMsg) {
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = msg || '';
  $('signin-error').hidden = !msg;
  $('signin-note').textContent = noteMsg || '';
  $('signin-note').hidden = !noteMsg;
  $('name').value = S.name || store.get('name');
  $('key').value = '';
  $('key').focus();
}

async function signIn(key, name) {
  const btn = $('signin-btn');
  btn.disabled = true;
  btn.textContent = t('signin.busy');
  let sess;
  try { sess = await api('session', { key }); } catch (e) {
    if ($('signin').hidden && (isStatus(e, 401) || isStatus(e, 403))) store.clear(); // this tab's key, refused
    showSignIn(errText(e), $('signin-note').textContent);
    return;
  } finally {
    btn.disabled = false;
    btn.textContent = t('signin.submit');
  }
  const sites = sitesOf(sess);
  if (!sites.length) return showSignIn(t('signin.noSites'));
  Object.assign(S, { key, name, session: sess, authLost: false });
  store.set('key', key);
  store.set('name', name);
  $('signin').hidden = true;
  $('app').hidden = false;
  $('who').textContent = roleText(sess);
  const pick = $('site-select');
  pick.replaceChildren(...sites.map((x) => h('option', null, x, { value: x })));
  pick.hidden = sites.length < 2;
  $('site-name').hidden = sites.length > 1;
  $('site-label').htmlFor = sites.length > 1 ? 'site-select' : '';
  const wanted = sites.includes(S.site) ? S.site : sites.includes(store.get('site')) ? store.get('site') : sites[0];
  loadModel();
  if (S.site === wanted && S.items.size) {
    // signed in again after the key was refused: keep the page, re-read the rest, retry what failed
    pick.value = wanted;
    startWatch();
    loadStats();
    retry(failedIds());
  } else openSite(wanted);
}

function openSite(site) {
  stopWatch();
  resetQueue();
  S.site = site;
  store.set('site', site);
  $('site-select').value = site;
  $('site-name').textContent = site;
  $('loading').hidden = false;
  $('banner').hidden = true;
  startWatch();
  loadStats();
}

async function switchSite(site) {
  if (site === S.site) return;
  await flushAll();
  const n = failedIds().length;
  if (n && !confirm(t('switch.confirm', { n }))) { $('site-select').value = S.site; return; }
  openSite(site);
}

function authLost(msg) {
  if (S.authLost) return;
  S.authLost = true;
  stopWatch();
  setLive('offline');
  showSignIn(msg, t('signin.again'));
}

async function signOut() {
  await flushAll();
  const n = failedIds().length;
  if (n && !confirm(t('signout.confirm', { n }))) return;
  stopWatch();
  resetQueue();
  store.clear();
  Object.assign(S, { key: '', name: '', session: null, site: '', authLost: false, stats: null, model: null, filters: { reason: '', min: null, max: null } });
  for (const x of ['f-min', 'f-max', 'name']) $(x).value = '';
  for (const x of ['model', 'who']) $(x).textContent = '';
  for (const x of ['st-a', 'st-h', 'st-r']) $(x).textContent = '–';
  $('chart').replaceChildren();
  $('stats-table').replaceChildren();
  showSignIn('');
}

// ---- events
const idOf = (node) => { const art = node.closest('.item'); return art ? art.dataset.id : ''; };

function onListClick(e) {
  const tg = e.target, id = idOf(tg), en = S.items.get(id);
  if (!en) return;
  if (tg.matches('input.sel-cb')) {
    if (e.shiftKey && S.anchor && S.anchor !== id) selectRange(S.anchor, id, tg.checked); else setSelected(id, tg.checked);
    S.anchor = id;
    setCurrent(id, false);
    return refreshCounts();
  }
  const b = tg.closest('button[data-act]');
  const act = b && b.dataset.act;
  if (!b) { if (!tg.closest('button, input, select, summary')) setCurrent(id, false); }
  else if (VERDICTS.includes(act)) { setCurrent(id, false); decide(act, [id]); }
  else if (act === 'undo') undoOne(id);
  else if (act === 'retry') retry([id]);
  else if (act === 'dismiss') { const next = neighbour(id, 1) || neighbour(id, -1); removeEntry(id); setCurrent(next); }
  else if (act === 'expand') {
    const open = en.el.classList.toggle('expanded');
    b.setAttribute('aria-expanded', open);
    b.textContent = open ? t('item.showLess') : t('item.showAll', { n: fmtNum(str(en.item.content).length) });
  }
}

function currentOrFirst() {
  if (!S.items.has(S.current)) setCurrent(S.order.find((x) => actionable(S.items.get(x))));
  return S.current;
}

function move(dir) {
  const pred = (en) => en.state !== 'sending' && en.state !== 'pending';
  const id = S.items.has(S.current) ? neighbour(S.current, dir, pred) : S.order.find((x) => pred(S.items.get(x)));
  if (id) setCurrent(id);
  else if (dir > 0 && S.nextToken) loadMore().then(() => { const n = neighbour(S.current, 1, pred); if (n) setCurrent(n); });
}

function act(verdict) {
  if (S.selected.size) return decide(verdict, S.order.filter((id) => S.selected.has(id)));
  if (!S.items.has(S.current)) { announce(t('nothing.current')); currentOrFirst(); return; }
  if (!actionable(S.items.get(S.current))) return announce(t('already.pending'));
  decide(verdict, [S.current]);
}

function onKey(e) {
  if ($('app').hidden || $('help').open || e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
  const tg = e.target;
  if (tg.closest && tg.closest('select, textarea, [contenteditable]:not([contenteditable="false"]), input:not([type="checkbox"])')) return;
  const select = (range) => {
    const id = currentOrFirst();
    if (!id) return;
    if (range && S.anchor) selectRange(S.anchor, id, true); else setSelected(id, range || !S.selected.has(id));
    S.anchor = id;
    refreshCounts();
  };
  const keys = {
    j: () => move(1), k: () => move(-1), a: () => act('approve'), s: () => act('reject_spam'), r: () => act('reject_other'),
    x: () => select(false), X: () => select(true), u: () => undo(), '?': openHelp,
  };
  if (keys[e.key]) keys[e.key]();
  else if (e.key === 'Escape' && S.selected.size) clearSelection();
  else return;
  e.preventDefault();
}

function openHelp() {
  if (!$('help').open) $('help').showModal();
  $('help-close').focus();
}

function relabel() {
  applyI18n();
  for (const sel of document.querySelectorAll('.lang-select')) sel.value = getLang();
  // rebuild the items in place so every label follows the language; states are kept
  for (const id of S.order) {
    const en = S.items.get(id), old = en.el;
    const hadFocus = old.contains(document.activeElement);
    old.replaceWith(buildItem(en));
    if (old.classList.contains('expanded')) en.el.querySelector('.show-all').click();
    if (hadFocus) en.el.focus({ preventScroll: true });
  }
  for (const a of S.actions.values()) refreshToast(a);
  buildReasonSelect();
  setLive($('live').dataset.state);
  if (S.stats) renderStats(S.stats);
  renderModel();
  if (S.session) $('who').textContent = roleText(S.session);
  refreshCounts();
}

function init() {
  applyI18n();
  for (const sel of document.querySelectorAll('.lang-select')) {
    sel.value = getLang();
    sel.onchange = () => setLang(sel.value);
  }
  onLangChange(relabel);

  $('signin-form').onsubmit = (e) => {
    e.preventDefault();
    const key = $('key').value.trim();
    if (key) return signIn(key, $('name').value.trim());
    $('signin-error').textContent = t('signin.keyMissing');
    $('signin-error').hidden = false;
    $('key').focus();
  };
  $('signout-btn').onclick = signOut;
  $('site-select').onchange = (e) => switchSite(e.target.value);
  $('help-btn').onclick = openHelp;
  $('help-close').onclick = () => $('help').close();
  $('help').onclick = (e) => { if (e.target === $('help')) $('help').close(); }; // the backdrop

  $('list').onclick = onListClick;
  $('list').addEventListener('focusin', (e) => { const id = idOf(e.target); if (id && id !== S.current) setCurrent(id, false); });
  document.addEventListener('keydown', onKey);
  $('sel-all').onchange = (e) => { for (const id of S.order) setSelected(id, e.target.checked); refreshCounts(); };
  $('sel-clear').onclick = clearSelection;
  for (const b of document.querySelectorAll('[data-bulk]')) b.onclick = () => decide(b.dataset.bulk, S.order.filter((id) => S.selected.has(id)));
  $('retry-all').onclick = () => retry(failedIds());
  $('banner-retry').onclick = () => { $('banner').hidden = true; if (bannerRetry) bannerRetry(); };
  $('more').onclick = loadMore;
  new IntersectionObserver((es) => { if (es.some((x) => x.isIntersecting)) loadMore(); }, { rootMargin: '800px 0px' }).observe($('more'));

  $('f-reason').onchange = applyFilters;
  for (const x of ['f-min', 'f-max']) {
    $(x).onchange = applyFilters;
    $(x).oninput = () => { clearTimeout(filterTimer); filterTimer = setTimeout(applyFilters, 600); };
  }
  $('f-clear').onclick = () => { for (const x of ['f-reason', 'f-min', 'f-max']) $(x).value = ''; applyFilters(); };

  // On a narrow screen the toasts cover the bottom of the queue: the page keeps that much room below
  // it (app.css), so every comment's buttons can be scrolled clear of them. (CSSOM, allowed by the CSP.)
  new ResizeObserver(() => document.documentElement.style.setProperty('--toasts-h', $('toasts').offsetHeight + 'px')).observe($('toasts'));

  // side panels open on a wide screen, folded on a phone so that the queue comes first
  const wide = matchMedia('(min-width: 60rem)').matches;
  $('stats-panel').open = wide;
  $('filters-panel').open = wide;

  // Never lose a decision: pending ones are sent at once when the tab is hidden or closed (with
  // keepalive, the request outlives the page); leaving with failed ones asks first.
  addEventListener('pagehide', () => flushAll(true));
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') flushAll(true);
    else if (S.site && !S.authLost) { wakeWatch(); loadStats(); }
  });
  addEventListener('beforeunload', (e) => { if (failedIds().length) { e.preventDefault(); e.returnValue = t('leave.warn'); } });
  addEventListener('online', wakeWatch);
  addEventListener('offline', () => { if (S.watch) setLive('offline'); });

  const visible = () => document.visibilityState === 'visible' && S.site && !S.authLost;
  setInterval(() => {
    for (const tm of document.querySelectorAll('#list time.rel')) tm.textContent = t('item.heldAt', { rel: fmtRel(Number(tm.dataset.ms)) });
    renderModel();
  }, 30000);
  setInterval(() => { if (visible()) loadStats(); }, 60000);
  setInterval(() => { if (visible()) loadModel(); }, 300000);

  S.name = store.get('name');
  if (store.get('key')) signIn(store.get('key'), S.name); else showSignIn('');
}

init();
