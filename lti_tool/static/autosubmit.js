// Sends a form marked data-autosubmit at once (the deep-linking response back to Moodle).
// The page's button does the same when scripts are off.
document.querySelectorAll("form[data-autosubmit]").forEach(function (form) { form.submit(); });
