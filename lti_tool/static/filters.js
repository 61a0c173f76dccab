// Filter forms marked data-apply-on-change are sent as soon as a choice changes (the
// search box when it changes: Enter or leaving it). Without scripts their button shows.
document.querySelectorAll("form[data-apply-on-change]").forEach(function (form) {
  form.querySelectorAll("select, input[type=search]").forEach(function (control) {
    control.addEventListener("change", function () {
      if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    });
  });
});
