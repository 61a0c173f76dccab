// The demo Moodle's page behaviour (what Moodle's own scripts do).
(function () {
  // "Viewing as": switch people as soon as one is chosen.
  document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  window.addEventListener("message", function (event) {
    var data = event.data;
    if (typeof data === "string") { try { data = JSON.parse(data); } catch (e) { return; } }
    if (!data) { return; }
    // The tool may ask for a taller frame (lti.frameResize).
    var frame = document.getElementById("contentframe");
    if (frame && data.subject === "lti.frameResize" && Number(data.height) > 0) {
      frame.style.height = (Number(data.height) + 24) + "px";
    }
    // The tool's registration page is done (org.imsglobal.lti.close).
    var registration = document.getElementById("registration");
    if (registration && data.subject === "org.imsglobal.lti.close") {
      window.location.href = registration.getAttribute("data-return-url");
    }
  });
})();
