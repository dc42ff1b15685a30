// Small conveniences; every form works without this file.
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('input.all').forEach(function (all) {
    all.addEventListener('change', function () {
      all.closest('form').querySelectorAll('input[name=id]').forEach(function (b) { b.checked = all.checked; });
    });
  });
  document.querySelectorAll('form.confirm').forEach(function (f) {
    f.addEventListener('submit', function (e) {
      if (!window.confirm(f.dataset.confirm)) { e.preventDefault(); }
    });
  });
});
