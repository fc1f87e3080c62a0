// Interface strings of the moderation page: each key gives [English, Indonesian].
// Every string is inserted with textContent, never as HTML. Placeholders are {name}; a value
// given as {one, other} is chosen by Intl.PluralRules on params.count (or params.n).

const STRINGS = {
  'app.title': ['saring · moderation', 'saring · moderasi'],
  'skip': ['Skip to the queue', 'Langsung ke antrean'],
  'signin.title': ['Moderation', 'Moderasi'],
  'signin.intro': ['Sign in with a moderator key. The key is kept only in this tab and forgotten when the tab closes.', 'Masuk dengan kunci moderator. Kunci hanya disimpan di tab ini dan dilupakan saat tab ditutup.'],
  'signin.key': ['Moderator key', 'Kunci moderator'],
  'signin.name': ['Your name for the audit log (optional)', 'Nama Anda untuk log audit (opsional)'],
  'signin.nameHint': ['Left empty, the audit log names the key.', 'Jika kosong, log audit mencatat nama kuncinya.'],
  'signin.submit': ['Sign in', 'Masuk'],
  'signin.busy': ['Signing in…', 'Sedang masuk…'],
  'signin.again': ['Sign in again to go on. Decisions not yet saved are kept on this page.', 'Masuk lagi untuk melanjutkan. Keputusan yang belum tersimpan tetap ada di halaman ini.'],
  'signin.noSites': ['This key allows no sites.', 'Kunci ini tidak diizinkan untuk situs mana pun.'],
  'signin.keyMissing': ['Enter a moderator key.', 'Masukkan kunci moderator.'],
  'lang.label': ['Language', 'Bahasa'],
  'site.label': ['Site', 'Situs'],
  'model.label': ['Model {v}', 'Model {v}'],
  'model.loaded': ['loaded {when}', 'dimuat {when}'],
  'live.connecting': ['connecting…', 'menyambung…'],
  'live.live': ['live', 'langsung'],
  'live.reconnecting': ['reconnecting…', 'menyambung ulang…'],
  'live.offline': ['offline', 'luring'],
  'live.title': ['Live updates of the queue', 'Pembaruan antrean secara langsung'],
  'who': ['Signed in as {role} {key}', 'Masuk sebagai {role} {key}'],
  'role.moderator': ['moderator', 'moderator'],
  'role.admin': ['admin', 'admin'],
  'btn.help': ['Shortcuts', 'Pintasan'],
  'btn.signout': ['Sign out', 'Keluar'],
  'queue.title': ['Held comments', 'Komentar ditahan'],
  'queue.waiting': ['{n} waiting', '{n} menunggu'],
  'queue.empty': ['Nothing is waiting. Comments appear here as soon as they are held.', 'Tidak ada yang menunggu. Komentar muncul di sini begitu ditahan.'],
  'queue.emptyFiltered': ['No waiting comment matches these filters.', 'Tidak ada komentar menunggu yang cocok dengan filter ini.'],
  'queue.loading': ['Loading the queue…', 'Memuat antrean…'],
  'queue.more': ['Load more', 'Muat lagi'],
  'queue.loadFailed': ['The queue could not be loaded: {msg}', 'Antrean tidak dapat dimuat: {msg}'],
  'btn.retry': ['Retry', 'Coba lagi'],
  'filters.title': ['Filter', 'Filter'],
  'filters.reason': ['Reason', 'Alasan'],
  'filters.allReasons': ['All reasons', 'Semua alasan'],
  'filters.prob': ['Spam probability (%)', 'Probabilitas spam (%)'],
  'filters.min': ['From', 'Dari'],
  'filters.max': ['To', 'Sampai'],
  'filters.clear': ['Clear filters', 'Hapus filter'],
  'filters.active': ['on', 'aktif'],
  'filters.bad': ['The range must be between 0 and 100, and “From” not above “To”.', 'Rentang harus antara 0 dan 100, dan “Dari” tidak melebihi “Sampai”.'],
  'legend.title': ['Highlighted words', 'Kata yang disorot'],
  'legend.spam': ['pushed towards spam', 'mendorong ke arah spam'],
  'legend.ham': ['pushed towards ham', 'mendorong ke arah bukan spam'],
  'legend.word': ['word', 'kata'],
  'stats.title': ['Decisions', 'Keputusan'],
  'stats.today': ['Today', 'Hari ini'],
  'stats.days': ['Last 30 days', '30 hari terakhir'],
  'stats.table': ['Show as a table', 'Tampilkan sebagai tabel'],
  'stats.date': ['Date', 'Tanggal'],
  'stats.accept': ['Accepted', 'Diterima'],
  'stats.hold': ['Held', 'Ditahan'],
  'stats.reject': ['Rejected', 'Ditolak'],
  'stats.chart': ['Decisions per day over the last 30 days: {a} accepted, {h} held, {r} rejected.', 'Keputusan per hari selama 30 hari terakhir: {a} diterima, {h} ditahan, {r} ditolak.'],
  'stats.bar': ['{date}: {a} accepted, {h} held, {r} rejected', '{date}: {a} diterima, {h} ditahan, {r} ditolak'],
  'stats.failed': ['Counts unavailable: {msg}', 'Jumlah tidak tersedia: {msg}'],
  'bulk.selectAll': ['Select all shown', 'Pilih semua yang tampil'],
  'bulk.selected': ['{n} selected', '{n} dipilih'],
  'bulk.none': ['Select comments to act on several at once; press ? for the keyboard shortcuts.', 'Pilih komentar untuk memutuskan beberapa sekaligus; tekan ? untuk pintasan papan ketik.'],
  'bulk.hint': ['a, s and r act on the selection.', 'a, s dan r berlaku untuk pilihan.'],
  'bulk.clear': ['Clear selection', 'Batalkan pilihan'],
  'bulk.retryFailed': ['Retry failed ({n})', 'Ulangi yang gagal ({n})'],
  'act.approve': ['Approve', 'Setujui'],
  'act.reject_spam': ['Spam', 'Spam'],
  'act.reject_other': ['Reject (other)', 'Tolak (lainnya)'],
  'verdict.approve': ['approved', 'disetujui'],
  'verdict.reject_spam': ['rejected as spam', 'ditolak sebagai spam'],
  'verdict.reject_other': ['rejected (other)', 'ditolak (lainnya)'],
  'pending.approve': [{ one: 'Approving {n} comment', other: 'Approving {n} comments' }, 'Menyetujui {n} komentar'],
  'pending.reject_spam': [{ one: 'Rejecting {n} comment as spam', other: 'Rejecting {n} comments as spam' }, 'Menolak {n} komentar sebagai spam'],
  'pending.reject_other': [{ one: 'Rejecting {n} comment (other)', other: 'Rejecting {n} comments (other)' }, 'Menolak {n} komentar (lainnya)'],
  'pending.item': ['Will be {verdict} in 5 seconds.', 'Akan {verdict} dalam 5 detik.'],
  'pending.undoHint': ['Press u to undo.', 'Tekan u untuk membatalkan.'],
  'btn.undo': ['Undo', 'Batalkan'],
  'sending.item': ['Saving: {verdict}…', 'Menyimpan: {verdict}…'],
  'done': [{ one: '{n} comment {verdict}.', other: '{n} comments {verdict}.' }, '{n} komentar {verdict}.'],
  'undo.done': [{ one: 'Undone: {n} comment is back in the queue.', other: 'Undone: {n} comments are back in the queue.' }, 'Dibatalkan: {n} komentar kembali ke antrean.'],
  'undo.none': ['Nothing to undo: decisions already sent are final.', 'Tidak ada yang bisa dibatalkan: keputusan yang sudah terkirim bersifat final.'],
  'failed.item': ['Not saved — {verdict}: {msg}', 'Tidak tersimpan — {verdict}: {msg}'],
  'failed.some': [{ one: '{n} decision could not be saved. It is marked in the queue; retry it there.', other: '{n} decisions could not be saved. They are marked in the queue; retry them there.' }, '{n} keputusan tidak dapat disimpan. Keputusan itu ditandai di antrean; coba lagi di sana.'],
  'failed.noAnswer': ['the server gave no answer for this comment', 'server tidak memberi jawaban untuk komentar ini'],
  'conflict.item': ['Already resolved by {who}: {verdict}, {when}. Your decision ({mine}) was not applied.', 'Sudah diputuskan oleh {who}: {verdict}, {when}. Keputusan Anda ({mine}) tidak diterapkan.'],
  'conflict.someone': ['someone else', 'orang lain'],
  'notfound.item': ['This comment is no longer in the queue. Your decision ({mine}) was not applied.', 'Komentar ini sudah tidak ada di antrean. Keputusan Anda ({mine}) tidak diterapkan.'],
  'btn.dismiss': ['Dismiss', 'Tutup'],
  'elsewhere.one': ['A comment by {name} was {verdict} by {who}.', 'Komentar dari {name} telah {verdict} oleh {who}.'],
  'elsewhere.many': [{ one: '{n} comment was resolved elsewhere.', other: '{n} comments were resolved elsewhere.' }, '{n} komentar diputuskan di tempat lain.'],
  'elsewhere.same': ['A comment by {name} was {verdict} by {who}, as you decided.', 'Komentar dari {name} telah {verdict} oleh {who}, sesuai keputusan Anda.'],
  'elsewhere.pending': ['A comment by {name} was {verdict} by {who} before your decision ({mine}) was sent; yours was not applied.', 'Komentar dari {name} telah {verdict} oleh {who} sebelum keputusan Anda ({mine}) terkirim; keputusan Anda tidak diterapkan.'],
  'newHeld': [{ one: '{n} new comment held.', other: '{n} new comments held.' }, '{n} komentar baru ditahan.'],
  'already.pending': ['This comment is already being decided. Press u to undo.', 'Komentar ini sedang diputuskan. Tekan u untuk membatalkan.'],
  'nothing.current': ['No comment is selected. Use j and k to move.', 'Belum ada komentar yang dipilih. Gunakan j dan k untuk berpindah.'],
  'item.select': ['Select the comment by {name}', 'Pilih komentar dari {name}'],
  'item.anon': ['(no name)', '(tanpa nama)'],
  'item.heldAt': ['held {rel}', 'ditahan {rel}'],
  'item.showAll': ['Show the whole comment ({n} characters)', 'Tampilkan seluruh komentar ({n} karakter)'],
  'item.showLess': ['Show less', 'Tampilkan lebih sedikit'],
  'item.empty': ['(empty comment)', '(komentar kosong)'],
  'item.actions': ['Decide on the comment by {name}', 'Putuskan komentar dari {name}'],
  'meta.email': ['E-mail', 'Surel'],
  'meta.url': ['Website', 'Situs web'],
  'meta.ip': ['IP', 'IP'],
  'meta.ua': ['User agent', 'Agen pengguna'],
  'meta.permalink': ['Post', 'Tulisan'],
  'meta.lang': ['Language', 'Bahasa'],
  'meta.campaign': ['Campaign', 'Kampanye'],
  'meta.id': ['Held id', 'ID tahanan'],
  'meta.none': ['—', '—'],
  'prob.label': ['Spam {p}', 'Spam {p}'],
  'prob.aria': ['Spam probability {p}', 'Probabilitas spam {p}'],
  'hl.spam': ['pushed towards spam ({w})', 'mendorong ke arah spam ({w})'],
  'hl.ham': ['pushed towards ham ({w})', 'mendorong ke arah bukan spam ({w})'],
  'flag.invisible': [{ one: 'Contains {n} invisible or direction-changing character.', other: 'Contains {n} invisible or direction-changing characters.' }, 'Berisi {n} karakter tak terlihat atau pengubah arah teks.'],
  'reason.tokens': ['Words that weighed most', 'Kata yang paling berpengaruh'],
  'reason.model.spam': ['Spam model score', 'Skor model spam'],
  'reason.model.token': ['Word that weighed on the score', 'Kata yang memengaruhi skor'],
  'reason.model.low_evidence': ['Too few known words for the model to decide', 'Terlalu sedikit kata yang dikenal model untuk memutuskan'],
  'reason.rule.honeypot': ['Hidden form field was filled', 'Kolom formulir tersembunyi diisi'],
  'reason.rule.privileged_role': ['Privileged user role', 'Peran pengguna istimewa'],
  'reason.rule.trusted_author': ['Trusted returning author', 'Penulis tepercaya yang kembali'],
  'reason.rule.blocked_term': ['Blocked term', 'Istilah terlarang'],
  'reason.rule.moderation_term': ['Term that needs review', 'Istilah yang perlu ditinjau'],
  'reason.rule.too_many_links': ['Too many links', 'Terlalu banyak tautan'],
  'reason.rule.too_fast': ['Submitted too quickly', 'Dikirim terlalu cepat'],
  'reason.rule.campaign': ['Part of a wave of near-identical comments', 'Bagian dari gelombang komentar yang hampir sama'],
  'reason.ratelimit.ip': ['Too many comments from this IP', 'Terlalu banyak komentar dari IP ini'],
  'reason.ratelimit.author': ['Too many comments from this author', 'Terlalu banyak komentar dari penulis ini'],
  'reason.ratelimit.site': ['Too many comments on this site', 'Terlalu banyak komentar di situs ini'],
  'reason.store.degraded': ['Decided without the store', 'Diputuskan tanpa penyimpanan'],
  'help.title': ['Keyboard shortcuts', 'Pintasan papan ketik'],
  'help.next': ['Next comment', 'Komentar berikutnya'],
  'help.prev': ['Previous comment', 'Komentar sebelumnya'],
  'help.approve': ['Approve', 'Setujui'],
  'help.spam': ['Reject as spam', 'Tolak sebagai spam'],
  'help.other': ['Reject (other: not spam, but not publishable)', 'Tolak (lainnya: bukan spam, tetapi tidak layak terbit)'],
  'help.select': ['Select or unselect the comment', 'Pilih atau batalkan pilihan komentar'],
  'help.range': ['Select from the last selected to this one', 'Pilih dari pilihan terakhir sampai komentar ini'],
  'help.undo': ['Undo the last decision (within 5 seconds)', 'Batalkan keputusan terakhir (dalam 5 detik)'],
  'help.help': ['Show this list', 'Tampilkan daftar ini'],
  'help.escape': ['Clear the selection, close this list', 'Batalkan pilihan, tutup daftar ini'],
  'help.note': ['With comments selected, a, s and r act on all of them. A decision is sent after 5 seconds; until then it can be undone. Sent decisions are final.', 'Jika ada komentar yang dipilih, a, s dan r berlaku untuk semuanya. Keputusan dikirim setelah 5 detik; sebelum itu masih bisa dibatalkan. Keputusan yang sudah terkirim bersifat final.'],
  'help.close': ['Close', 'Tutup'],
  'help.key': ['Key', 'Tombol'],
  'help.action': ['Action', 'Tindakan'],
  'signout.confirm': [{ one: '{n} decision is not saved. Sign out and lose it?', other: '{n} decisions are not saved. Sign out and lose them?' }, '{n} keputusan belum tersimpan. Tetap keluar dan kehilangan keputusan itu?'],
  'switch.confirm': [{ one: '{n} decision is not saved. Switch site and lose it?', other: '{n} decisions are not saved. Switch site and lose them?' }, '{n} keputusan belum tersimpan. Tetap pindah situs dan kehilangan keputusan itu?'],
  'leave.warn': ['Some decisions are not saved.', 'Ada keputusan yang belum tersimpan.'],
  'err.network': ['The server could not be reached.', 'Server tidak dapat dihubungi.'],
  'err.http': ['HTTP error {status}', 'Galat HTTP {status}'],
  'err.badResponse': ['The server sent an answer that could not be read.', 'Jawaban server tidak dapat dibaca.'],
  'err.forbidden': ['This key may not see this site: {msg}', 'Kunci ini tidak boleh melihat situs ini: {msg}'],
};
const INDEX = { en: 0, id: 1 };

const PREF_KEY = 'saring.lang';
const listeners = new Set();

function fromBrowser() {
  const list = (navigator.languages && navigator.languages.length) ? navigator.languages : [navigator.language || 'en'];
  for (const tag of list) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (base === 'id' || base === 'in') return 'id'; // "in" is the old code for Indonesian
    if (base === 'en') return 'en';
  }
  return 'en';
}

function stored() {
  try { const v = localStorage.getItem(PREF_KEY); return v in INDEX ? v : ''; } catch { return ''; }
}

let current = stored() || fromBrowser();
let plural = new Intl.PluralRules(current);

export function getLang() { return current; }

/** Switch the language; saved as a preference (not a secret) in localStorage. */
export function setLang(code) {
  if (!(code in INDEX) || code === current) return;
  current = code;
  plural = new Intl.PluralRules(current);
  try { localStorage.setItem(PREF_KEY, code); } catch { /* private mode */ }
  for (const fn of listeners) fn(code);
}

export function onLangChange(fn) { listeners.add(fn); }

/** The string for key in the current language, with {placeholders} filled. */
export function t(key, params) {
  const pair = STRINGS[key];
  if (!pair) return key;
  let v = pair[INDEX[current]] ?? pair[0];
  if (typeof v === 'object') v = v[plural.select(Number(params && (params.count ?? params.n)) || 0)] ?? v.other;
  if (!params) return v;
  return v.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** Whether a string exists (used for reason codes, which may be new). */
export function has(key) { return key in STRINGS; }

/**
 * Fill static markup: data-i18n="key" sets textContent;
 * data-i18n-attr="attr:key;attr2:key2" sets attributes.
 */
export function applyI18n(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':');
      if (attr && key) el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}

const cache = {};
function fmt(kind, opts) {
  const k = current + kind;
  return cache[k] || (cache[k] = kind.startsWith('rel')
    ? new Intl.RelativeTimeFormat(current, opts)
    : kind.startsWith('num') || kind.startsWith('pct')
      ? new Intl.NumberFormat(current, opts)
      : new Intl.DateTimeFormat(current, opts));
}

export function fmtNum(n) { return fmt('num', {}).format(Number(n) || 0); }
export function fmtPct(p) { return fmt('pct', { style: 'percent', maximumFractionDigits: 0 }).format(Number(p) || 0); }
export function fmtWeight(w) {
  const n = Number(w) || 0;
  return (n > 0 ? '+' : n < 0 ? '\u2212' : '') + fmt('numw', { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(Math.abs(n));
}
export function fmtAbs(ms) { return fmt('abs', { dateStyle: 'medium', timeStyle: 'short' }).format(ms); }
export function fmtDay(ms) { return fmt('day', { day: 'numeric', month: 'short', timeZone: 'UTC' }).format(ms); }
export function fmtRel(ms, now = Date.now()) {
  const s = Math.round((ms - now) / 1000);
  const a = Math.abs(s);
  const r = fmt('rel', { numeric: 'auto' });
  if (a < 45) return r.format(0, 'second');
  if (a < 3600) return r.format(Math.round(s / 60), 'minute');
  if (a < 86400) return r.format(Math.round(s / 3600), 'hour');
  if (a < 86400 * 30) return r.format(Math.round(s / 86400), 'day');
  if (a < 86400 * 365) return r.format(Math.round(s / (86400 * 30)), 'month');
  return r.format(Math.round(s / (86400 * 365)), 'year');
}
