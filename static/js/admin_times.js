// The admin writes times as "2026-12-02 13:45:07 UTC" (core/formats); like the pages, show the exchange's
// time on hover: each such text becomes a <time datetime="…Z" title="… (America/New_York)">.
(function () {
  "use strict";
  var PATTERN = /(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2})(:\d{2})? UTC/g;
  var fmt = new Intl.DateTimeFormat("en-US", {timeZone: "America/New_York", hourCycle: "h23", year: "numeric",
    month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"});
  function exchange(date) {
    var p = {};
    fmt.formatToParts(date).forEach(function (part) { p[part.type] = part.value; });
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second + " " +
      p.timeZoneName + " (America/New_York)";
  }
  var root = document.getElementById("content") || document.body;
  var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  var found = [];
  while (walker.nextNode()) {
    var node = walker.currentNode;
    var parent = node.parentNode.nodeName;
    if (parent !== "SCRIPT" && parent !== "STYLE" && parent !== "TEXTAREA" && parent !== "TIME" &&
        PATTERN.test(node.nodeValue)) { found.push(node); }
    PATTERN.lastIndex = 0;
  }
  found.forEach(function (node) {
    var text = node.nodeValue, last = 0, out = document.createDocumentFragment(), m;
    while ((m = PATTERN.exec(text)) !== null) {
      var iso = m[1] + "T" + m[2] + (m[3] || ":00") + "Z";
      var el = document.createElement("time");
      el.dateTime = iso;
      el.title = exchange(new Date(iso));
      el.textContent = m[0];
      out.appendChild(document.createTextNode(text.slice(last, m.index)));
      out.appendChild(el);
      last = m.index + m[0].length;
    }
    out.appendChild(document.createTextNode(text.slice(last)));
    node.parentNode.replaceChild(out, node);
  });
})();
