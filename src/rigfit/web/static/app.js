// rigfit: the few lines of progressive enhancement. Pages work without them.
(function () {
  function parseTokens(text) {
    var m = /^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$/.exec(text || "");
    if (!m) return NaN;
    var scale = { "": 1, k: 1024, m: 1048576 }[m[2].toLowerCase()];
    return Math.round(parseFloat(m[1]) * scale);
  }
  function bindSlider(root) {
    var range = root.querySelector("#ctx-range");
    var box = root.querySelector("#ctx");
    if (!range || !box || range.dataset.bound) return;
    range.dataset.bound = "1";
    var stops = range.dataset.stops.split(",").map(Number);
    function place() {
      var v = parseTokens(box.value), best = 0;
      for (var i = 0; i < stops.length; i++) if (Math.abs(stops[i] - v) < Math.abs(stops[best] - v)) best = i;
      range.value = String(best);
      range.setAttribute("aria-valuetext", stops[best].toLocaleString() + " tokens");
    }
    range.hidden = false;
    place();
    range.addEventListener("input", function () {
      box.value = String(stops[Number(range.value)]);
      range.setAttribute("aria-valuetext", box.value + " tokens");
    });
    box.addEventListener("input", place);
  }
  function bindCopy(root) {
    root.querySelectorAll("button.copy").forEach(function (b) {
      if (!navigator.clipboard) return;
      b.hidden = false;
      b.onclick = function () {
        navigator.clipboard.writeText(new URL(b.dataset.copy, location.href).href);
        b.textContent = "Copied";
      };
    });
  }
  // a command line to paste: the button copies its text as written
  function bindCopyText(root) {
    root.querySelectorAll("button.copy-text").forEach(function (b) {
      if (!navigator.clipboard) return;
      b.hidden = false;
      b.onclick = function () {
        navigator.clipboard.writeText(b.dataset.text);
        b.textContent = "Copied";
      };
    });
  }
  function init(root) { bindSlider(root); bindCopy(root); bindCopyText(root); }
  // A 400 answer carries the page's own one-line error in #result: show it in place of the
  // previous answer (htmx leaves the old content for error statuses), so no stale verdict stays.
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.xhr && e.detail.xhr.status === 400) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function () { init(document); });
})();
