// Inside Moodle's iframe, ask Moodle to fit the frame to the page (lti.frameResize).
(function () {
  if (window.parent === window) { return; }
  var last = 0;
  function send() {
    var height = document.documentElement.scrollHeight;
    if (height !== last) {
      last = height;
      window.parent.postMessage({ subject: "lti.frameResize", height: height }, "*");
    }
  }
  window.addEventListener("load", send);
  if (window.ResizeObserver) { new ResizeObserver(send).observe(document.body); }
})();
