// Shared behaviour of every screen (progressive enhancement: without it every page still
// shows and works). A static file: the Content-Security-Policy allows no inline script.
(function () {
  function focusQuietly(element) {
    element.focus({ preventScroll: false });
  }

  // After a failed submit, focus goes to the error summary (its role=alert is read out);
  // otherwise to the status message of the action just done ("Settings saved.").
  var summary = document.getElementById("error-summary");
  var message = document.querySelector("[data-focus-on-load]");
  if (summary) {
    focusQuietly(summary);
  } else if (message) {
    focusQuietly(message);
  }

  // Error summary links focus the first control of their field and bring its label or
  // legend into view with it (the browser alone would scroll the control to the very top).
  if (summary) {
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) { return; }
      var target = document.getElementById(link.getAttribute("href").slice(1));
      if (!target) { return; }
      if (!target.matches("input, select, textarea, button, a[href], [tabindex]")) {
        target = target.querySelector("input, select, textarea, button, a[href]") || target;
      }
      event.preventDefault();
      var legend = target.closest("fieldset") && target.closest("fieldset").querySelector("legend");
      var label = target.id && document.querySelector("label[for='" + target.id + "']");
      (legend || label || target).scrollIntoView();
      target.focus({ preventScroll: true });
    });
  }

  // The page's one live region announces a result count after filtering or searching.
  var live = document.getElementById("live-region");
  var count = document.querySelector("[data-announce]");
  if (live && count && window.location.search) {
    window.setTimeout(function () { live.textContent = count.textContent.trim(); }, 300);
  }

  // Filters that apply on change (the form still has its button for use without script).
  Array.prototype.forEach.call(document.querySelectorAll("form[data-submit-on-change]"), function (form) {
    form.addEventListener("change", function (event) {
      if (event.target.matches("select, input[type=radio], input[type=checkbox]")) { form.submit(); }
    });
  });

  // Copy buttons: <button type="button" data-copy="ID" hidden> copies the value of #ID.
  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.value || source.textContent).then(function () {
        if (live) { live.textContent = "Copied."; }
        button.textContent = "Copied";
      });
    });
  });
})();
