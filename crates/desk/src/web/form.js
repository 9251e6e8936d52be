// The New alert form's check-as-you-type: a personnummer or samordningsnummer field says at once
// when its format, date, serial number or check digit is wrong, or its date of birth is in the
// future, in the page's language (the words come from the
// field's data-pnr-* attributes, written by the server). It only helps: the form works without
// it, and the server checks every number again.
"use strict";

(function () {
  // YYYYMMDD-NNNN, YYYYMMDDNNNN, YYMMDD-NNNN, YYMMDD+NNNN or YYMMDDNNNN.
  var FORM = /^(\d{2})?(\d{2})(\d{2})(\d{2})[-+]?(\d{4})$/;

  // Luhn over the ten digits YYMMDDNNNN: weights 2,1,2,1,…; a product over 9 counts its digits.
  function luhn(ten) {
    var sum = 0;
    for (var i = 0; i < ten.length; i++) {
      var d = Number(ten[i]) * (i % 2 === 0 ? 2 : 1);
      sum += d > 9 ? d - 9 : d;
    }
    return sum % 10 === 0;
  }

  // "" when the number is good, else the name of the words to show.
  function problem(text) {
    var m = FORM.exec(text.trim());
    if (!m) return "pnrFormat";
    var month = Number(m[3]);
    var day = Number(m[4]);
    // A samordningsnummer writes the day plus 60.
    if (day > 60) day -= 60;
    // The century is unknown in the short form; 2000 is a leap year, so 29 February passes
    // here and the server decides.
    var year = m[1] ? Number(m[1] + m[2]) : 2000 + Number(m[2]);
    var date = new Date(Date.UTC(year, month - 1, day));
    if (month < 1 || month > 12 || day < 1 || date.getUTCDate() !== day) return "pnrDate";
    // Serial numbers run 001 to 999.
    if (m[5].slice(0, 3) === "000") return "pnrSerial";
    if (!luhn(m[2] + m[3] + m[4] + m[5])) return "pnrCheck";
    // With the century written out, a birth after today is refused; the short form's century
    // is the server's to choose (always a past date).
    if (m[1] && date.getTime() > Date.now()) return "pnrFuture";
    return "";
  }

  function check(input, final) {
    var live = document.getElementById(input.id + "-live");
    if (!live) return;
    var text = input.value.trim();
    var what = text === "" ? "" : problem(text);
    // While typing, say nothing about a number not yet complete.
    if (!final && what === "pnrFormat" && text.replace(/\D/g, "").length < 10) what = "";
    live.textContent = what ? input.dataset[what] : "";
    if (what) {
      input.setAttribute("aria-invalid", "true");
    } else if (!document.getElementById(input.id + "-error")) {
      input.removeAttribute("aria-invalid");
    }
  }

  var fields = document.querySelectorAll("input[data-pnr-check]");
  for (var i = 0; i < fields.length; i++) {
    fields[i].addEventListener("input", function (e) { check(e.target, false); });
    fields[i].addEventListener("blur", function (e) { check(e.target, true); });
  }
})();
