// Draws the plotly figures the server renders as JSON data blocks, on page load and after
// every HTMX swap, and clears the reading form once a reading is stored. A separate file
// (no inline script) so the Content-Security-Policy can forbid inline scripts.
(function () {
  "use strict";

  function drawFigures(root) {
    if (typeof Plotly === "undefined") { return; }
    root.querySelectorAll("[data-figure]").forEach(function (element) {
      var source = document.getElementById(element.getAttribute("data-figure"));
      if (!source) { return; }
      var figure = JSON.parse(source.textContent);
      Plotly.newPlot(element, figure.data, figure.layout, {responsive: true, displaylogo: false});
      element.setAttribute("data-drawn", "true");
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawFigures(document); });
  document.addEventListener("htmx:afterSwap", function (event) { drawFigures(event.detail.target); });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.id === "reading-form" && event.detail.successful) { form.reset(); }
  });
})();
