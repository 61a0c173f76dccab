// Inside Moodle's iframe, ask Moodle to fit the frame to the page (lti.frameResize), taller
// or shorter: the height of the content itself (the document's scrollHeight never drops
// below the frame's current height, so the frame could only grow).
(function () {
  if (window.parent === window) { return; }
  var last = 0;
  function send() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height > 0 && height !== last) {
      last = height;
      window.parent.postMessage({ subject: "lti.frameResize", height: height }, "*");
    }
  }
  window.addEventListener("load", send);
  if (window.ResizeObserver) { new ResizeObserver(send).observe(document.body); }
  // <details> opening and closing changes the height without resizing the window.
  document.addEventListener("toggle", send, true);
})();
