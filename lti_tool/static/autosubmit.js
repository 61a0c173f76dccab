// Submits forms marked data-autosubmit (LTI hand-offs back to the platform).
document.querySelectorAll("form[data-autosubmit]").forEach(function (form) { form.submit(); });
