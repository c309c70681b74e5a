// Gatehouse: the little behaviour htmx does not cover. No inline handlers anywhere (strict CSP).
(function () {
  'use strict';

  // Confirmation dialogs: htmx loads the confirmation into #modal-content; show it as a modal dialog.
  // (In htmx 4, after:settle fires on the swap target; after:swap fires on the element that asked.)
  document.addEventListener('htmx:after:settle', function (event) {
    var modal = document.getElementById('modal');
    var content = document.getElementById('modal-content');
    if (!modal || !content) return;
    if (event.target !== content) return;
    if (content.firstElementChild && !modal.open) modal.showModal();
    var first = content.querySelector('input:not([type=hidden]):not([type=radio]), button, a');
    if (first) first.focus();
  });

  // "Cancel" in a dialog closes it instead of navigating away.
  document.addEventListener('click', function (event) {
    var close = event.target.closest && event.target.closest('[data-close-dialog]');
    if (!close) return;
    var dialog = close.closest('dialog');
    if (dialog) {
      event.preventDefault();
      dialog.close();
    }
  });
  document.addEventListener('close', function (event) {
    if (event.target.id === 'modal') document.getElementById('modal-content').innerHTML = '';
  }, true);

  // In a dual list, Enter in a search box searches instead of submitting the whole form.
  document.addEventListener('keydown', function (event) {
    if (event.key !== 'Enter') return;
    var input = event.target;
    if (!input.matches || !input.matches('.dual-list input[type=search]')) return;
    event.preventDefault();
    input.dispatchEvent(new Event('search', { bubbles: true }));
  });

  // Leaving a page with unsaved dual-list moves asks first.
  var submitting = false;
  document.addEventListener('submit', function () { submitting = true; });
  document.addEventListener('htmx:before:request', function () { submitting = false; });
  window.addEventListener('beforeunload', function (event) {
    if (submitting) return;
    if (document.querySelector('.dual-list[data-dirty="true"]')) {
      event.preventDefault();
      event.returnValue = '';
    }
  });
})();

// Workspace picker (views/workspaces/_picker.eta): choosing a suggestion records its id in the hidden field
// named by data-ws-picker; typing something else clears it, so the server resolves the typed path instead.
(function () {
  'use strict';
  function sync(input) {
    var hidden = input.form ? input.form.elements.namedItem(input.getAttribute('data-ws-picker')) : null;
    if (!hidden) return;
    var list = input.list;
    var id = '';
    if (list) {
      for (var i = 0; i < list.options.length; i++) {
        var option = list.options[i];
        if (option.value.toLowerCase() === input.value.trim().toLowerCase()) { id = option.getAttribute('data-id') || ''; break; }
      }
    }
    hidden.value = id;
  }
  document.addEventListener('input', function (event) {
    var input = event.target;
    if (input.matches && input.matches('input[data-ws-picker]')) sync(input);
  });
  document.addEventListener('change', function (event) {
    var input = event.target;
    if (input.matches && input.matches('input[data-ws-picker]')) sync(input);
  });
  // Suggestions arrive after the typing: when the text typed is one of them, that one is chosen.
  document.addEventListener('htmx:after:swap', function (event) {
    var ctx = event.detail && event.detail.ctx;
    var list = ctx && ctx.target && ctx.target.tagName === 'DATALIST' ? ctx.target : event.target;
    if (!list || list.tagName !== 'DATALIST' || !list.id) return;
    var input = document.querySelector('input[data-ws-picker][list="' + list.id + '"]');
    if (input) sync(input);
  });

  // Links that open something beside themselves (a workspace in the tree, a cell of the access grid) with
  // htmx: mark the chosen one as current among those of its kind (data-selectable="<kind>").
  document.addEventListener('click', function (event) {
    var link = event.target.closest && event.target.closest('a[data-selectable]');
    if (!link) return;
    var kind = link.getAttribute('data-selectable');
    var current = document.querySelectorAll('a[data-selectable="' + kind + '"][aria-current]');
    for (var i = 0; i < current.length; i++) current[i].removeAttribute('aria-current');
    link.setAttribute('aria-current', 'true');
  });
})();

// Permission form: the level select is only sent for a domain with levels (Processes). The stylesheet hides
// it for other domains; disabling it keeps a hidden value from being submitted.
(function () {
  'use strict';
  function sync(root) {
    var selects = (root || document).querySelectorAll('select[data-levels-toggle]');
    for (var i = 0; i < selects.length; i++) {
      var domain = selects[i];
      var form = domain.form;
      var level = form && form.elements.namedItem('level');
      if (!level) continue;
      var option = domain.options[domain.selectedIndex];
      var usesLevels = !!(option && option.hasAttribute('data-levels'));
      var field = level.closest('.level-field');
      var forced = field && field.classList.contains('force-show');
      level.disabled = !usesLevels && !forced;
    }
  }
  document.addEventListener('change', function (event) {
    if (event.target.matches && event.target.matches('select[data-levels-toggle]')) {
      var field = event.target.form && event.target.form.querySelector('.level-field.force-show');
      if (field) field.classList.remove('force-show');
      sync();
    }
  });
  document.addEventListener('DOMContentLoaded', function () { sync(); });
  document.addEventListener('htmx:after:swap', function () { sync(); });
})();

// Lists with a tick box per row: the header box (hidden without JavaScript, where it could do nothing)
// ticks or clears every row of the page.
(function () {
  'use strict';
  function reveal(root) {
    var boxes = (root || document).querySelectorAll('input[data-check-all]');
    for (var i = 0; i < boxes.length; i++) boxes[i].hidden = false;
  }
  document.addEventListener('DOMContentLoaded', function () { reveal(); });
  document.addEventListener('htmx:after:swap', function () { reveal(); });
  document.addEventListener('change', function (event) {
    var all = event.target;
    if (!all.matches || !all.matches('input[data-check-all]')) return;
    var form = all.form;
    if (!form) return;
    var rows = form.querySelectorAll('input[type=checkbox][name="' + all.getAttribute('data-check-all') + '"]');
    for (var i = 0; i < rows.length; i++) rows[i].checked = all.checked;
  });
})();
