// Copy buttons: <button data-copy-target="ID" hidden> copies the text of element ID.
// The button stays hidden without JavaScript; a [data-copy-status] element next to it says what happened.
(function () {
  "use strict";

  function textOf(target) {
    return "value" in target ? target.value : target.textContent;
  }

  function fallbackCopy(target) {
    // Older browsers, or a page not served from a secure context: select and use the legacy command.
    if (typeof target.select === "function") {
      target.select();
    } else {
      var range = document.createRange();
      range.selectNodeContents(target);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    return document.execCommand("copy");
  }

  function copy(target) {
    var text = textOf(target);
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(
        function () { return true; },
        function () { return fallbackCopy(target); }
      );
    }
    return Promise.resolve(fallbackCopy(target));
  }

  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) {
      return;
    }
    var status = button.parentElement.querySelector("[data-copy-status]");
    button.hidden = false;
    button.addEventListener("click", function () {
      copy(target).then(function (ok) {
        if (status) {
          status.textContent = ok ? "Copied to the clipboard." : "Could not copy: select the key and copy it yourself.";
        }
      });
    });
  });
})();
