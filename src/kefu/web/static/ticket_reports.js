/* kefu ticket reports: the filters apply as soon as a list changes (the page works without
 * script: the Apply button does the same). */
(function () {
  'use strict';
  var form = document.getElementById('tk-filters');
  if (!form) return;
  form.addEventListener('change', function (ev) {
    var el = ev.target;
    if (el && el.tagName === 'SELECT') {
      if (el.name === 'template_id') {
        var f = form.querySelector('select[name="field"]');
        if (f) f.disabled = true;  // the new template's fields come with the reload
      }
      form.submit();
    }
  });
})();
