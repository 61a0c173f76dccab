// Tells Moodle's registration dialog that the tool is done (LTI Dynamic Registration).
(window.opener || window.parent).postMessage({ subject: "org.imsglobal.lti.close" }, "*");
