/**
 * The HTML report's own style sheet and script, inline in the page. The page's
 * Content-Security-Policy allows exactly these two by their SHA-256 (html.ts): no other script,
 * no style attribute, no network. The script only sorts and filters the flows table and opens
 * the ladder a link points to; it reads the page, never builds markup from text (it sets
 * `textContent`, `hidden` and `open`), so nothing from a capture can become code.
 */

export const REPORT_STYLE = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif; color: #222; margin: 0 auto; max-width: 1200px; padding: 0 16px 48px; }
h1 { font-size: 22px; margin: 20px 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 2px solid #222; }
code, pre, td.m { font-family: ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 12px; }
pre { overflow-x: auto; background: #f6f6f6; border: 1px solid #ccc; padding: 8px; }
nav a { margin-right: 14px; }
figure { margin: 0; overflow-x: auto; }
.table-scroll { overflow-x: auto; }
svg { max-width: none; height: auto; }
.note { border-left: 4px solid #E69F00; padding: 4px 10px; background: #fff8eb; }
table { border-collapse: collapse; width: 100%; }
/* The browser lays the long parts out only when they come into view: a page of 1000 rows opens
   as fast as one without them (find in page and printing still see them). */
#flows, #ladders { content-visibility: auto; contain-intrinsic-size: auto 3000px; }
th, td { border: 1px solid #bbb; padding: 2px 6px; text-align: left; vertical-align: top; }
/* A summary from packet bytes may be one long word (an HTTP target): it wraps inside its cell
   rather than pushing the table past the page (numbers and addresses stay on one line). */
td { overflow-wrap: anywhere; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.m { white-space: nowrap; }
th button { font: inherit; font-weight: bold; background: none; border: 0; padding: 0; cursor: pointer; color: inherit; }
th[aria-sort=ascending] button::after { content: ' \\25B2'; }
th[aria-sort=descending] button::after { content: ' \\25BC'; }
thead th { background: #eee; position: sticky; top: 0; }
tr:target td { background: #fbe8c4; }
input[type=search] { font: inherit; padding: 4px 8px; width: 24em; margin: 4px 0 8px; }
details { border: 1px solid #ccc; margin: 6px 0; padding: 4px 8px; }
table.explain { width: auto; margin: 8px 0; }
table.explain caption { text-align: left; font-weight: bold; padding: 4px 0; }
details[open] { background: #fcfcfc; }
summary { cursor: pointer; font-family: ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 12px; }
@media print {
  nav, input[type=search] { display: none; }
  details > summary { list-style: none; }
  details { break-inside: avoid; }
  thead th { position: static; }
}
`;

export const REPORT_SCRIPT = `
(function () {
  'use strict';
  var table = document.getElementById('flow-table');
  var input = document.getElementById('flow-filter');
  var count = document.getElementById('flow-count');
  if (table && input && count) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
    var show = function () {
      var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
      var n = 0;
      rows.forEach(function (r, i) {
        var ok = words.every(function (w) { return texts[i].indexOf(w) >= 0; });
        r.hidden = !ok;
        if (ok) n++;
      });
      count.textContent = n + ' of ' + rows.length + ' rows shown';
    };
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    heads.forEach(function (th, col) {
      var button = th.querySelector('button');
      if (!button) return;
      button.addEventListener('click', function () {
        var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
        heads.forEach(function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
        var numeric = th.getAttribute('data-type') === 'number';
        var key = function (r) {
          var c = r.cells[col];
          var v = c.getAttribute('data-v');
          return numeric ? Number(v === null ? c.textContent : v) : (v === null ? c.textContent : v);
        };
        var order = rows.map(function (r, i) { return { r: r, k: key(r), i: i }; });
        order.sort(function (a, b) {
          var d = numeric ? a.k - b.k : String(a.k).localeCompare(String(b.k));
          return d !== 0 ? d * dir : a.i - b.i;
        });
        order.forEach(function (o) { body.appendChild(o.r); });
      });
    });
    input.addEventListener('input', show);
    show();
  }
  var openTarget = function () {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id ? document.getElementById(id) : null;
    if (el && el.tagName === 'DETAILS') {
      el.open = true;
      el.scrollIntoView();
    }
  };
  window.addEventListener('hashchange', openTarget);
  openTarget();
})();
`;
