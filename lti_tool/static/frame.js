// Inside Moodle's iframe, ask Moodle to fit the frame to the page (lti.frameResize), taller
// or shorter. The height measured is the content's own (the .page wrapper around everything
// base.html renders): the document's scrollHeight never drops below the frame's current
// height, so a frame sized from it could only grow (by the platform's margin on every page).
(function () {
  if (window.parent === window) { return; }
  var last = 0;
  var pending = false;
  function contentHeight() {
    var page = document.getElementById("page") || document.body;
    var box = page.getBoundingClientRect();
    return Math.ceil(box.top + window.scrollY + box.height);
  }
  function send() {
    pending = false;
    var height = contentHeight();
    if (height > 0 && height !== last) {
      last = height;
      window.parent.postMessage({ subject: "lti.frameResize", height: height }, "*");
    }
  }
  function soon() {
    if (!pending) { pending = true; window.requestAnimationFrame(send); }
  }
  window.addEventListener("load", send);
  // The wrapper changes size when the content does (not when the frame does).
  if (window.ResizeObserver) {
    new ResizeObserver(soon).observe(document.getElementById("page") || document.body);
  } else {
    window.addEventListener("resize", soon);
  }
  // <details> opening and closing changes the height without resizing the window.
  document.addEventListener("toggle", soon, true);
})();
