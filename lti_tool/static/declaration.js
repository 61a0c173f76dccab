// Progressive enhancement for the learner's forms (a static file: no inline scripts).
// Without it everything still shows and works.
(function () {
  // A block marked data-show-if="NAME=VALUE" shows only while that radio is chosen.
  var blocks = document.querySelectorAll("[data-show-if]");
  Array.prototype.forEach.call(blocks, function (block) {
    var rule = block.getAttribute("data-show-if").split("=");
    var radios = document.querySelectorAll('input[type="radio"][name="' + rule[0] + '"]');
    function update() {
      var chosen = document.querySelector('input[type="radio"][name="' + rule[0] + '"]:checked');
      // Keep it visible when it holds an error, so that the learner can fix it.
      var hasError = block.querySelector(".error-message") !== null;
      block.hidden = !hasError && !(chosen && chosen.value === rule[1]);
      // Hidden answers are not sent (they keep their values if the learner changes back).
      Array.prototype.forEach.call(block.querySelectorAll("input, textarea, select"),
        function (input) { input.disabled = block.hidden; });
    }
    Array.prototype.forEach.call(radios, function (radio) {
      radio.addEventListener("change", update);
    });
    update();
  });
  // Buttons that print the page (instead of an inline onclick).
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
