/* Editing the customer on the card (a call's pop, or one found by search) through the CRM's
   PATCH /api/crm/customers/{id}: name, company, e-mail addresses, tags, notes. The server validates;
   its refusal names the field, and its message is shown under that field. Phone numbers, tier and
   PIN are the caller's identity: supervisors change them (docs/security.md), so the form only shows
   the numbers. Only the fields the agent changed are sent. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const C = () => window.ctiConsole;
  const FIELDS = ["name", "company", "emails", "tags", "notes"];
  let editing = null;  // {id, before}: the customer open in the form, its fields as read

  // E-mail addresses are separated by commas, semicolons or spaces; tags (which may hold spaces) by commas.
  const split = (s, sep) => s.split(sep).map((x) => x.trim()).filter(Boolean);
  function values() {
    return { name: $("ce-name").value.trim(), company: $("ce-company").value.trim() || null,
      emails: split($("ce-emails").value, /[\s,;]+/), tags: split($("ce-tags").value, /[,，]/), notes: $("ce-notes").value };
  }
  function clearErrors() {
    for (const p of document.querySelectorAll("#customer-form .field-error")) { p.hidden = true; p.textContent = ""; }
    for (const f of FIELDS) $(`ce-${f}`).removeAttribute("aria-invalid");
    $("ce-error").hidden = true;
  }
  // The server's 4xx: {code, message, field} ("emails", "emails.0", "name"...); the message under its field.
  function showError(err) {
    const field = (err.field || "").split(/[.[]/)[0];
    const box = FIELDS.includes(field) ? document.querySelector(`#customer-form .field-error[data-field="${field}"]`) : null;
    if (box) {
      box.textContent = err.message;
      box.hidden = false;
      $(`ce-${field}`).setAttribute("aria-invalid", "true");
      $(`ce-${field}`).focus();
    } else {
      $("ce-error").textContent = C().t("err.generic", { m: err.message });
      $("ce-error").hidden = false;
    }
  }
  async function open() {
    const card = C().shownCustomer();
    if (!card) return;
    let c;
    try {
      c = await C().api("GET", `/api/crm/customers/${encodeURIComponent(card.id)}`);
    } catch (e) { C().toast(C().t("err.generic", { m: e.message }), "error"); return; }
    clearErrors();
    $("ce-name").value = c.name;
    $("ce-company").value = c.company || "";
    $("ce-emails").value = c.emails.join(", ");
    $("ce-tags").value = c.tags.join(", ");
    $("ce-notes").value = c.notes || "";
    $("ce-phones").textContent = c.phones.map((p) => p.number).join(", ") || "—";
    editing = { id: c.id, before: values() };
    $("customer-dialog").showModal();
    $("ce-name").focus();
  }
  async function save(ev) {
    ev.preventDefault();
    if (!editing) return;
    clearErrors();
    const now = values(), patch = {};
    for (const f of FIELDS) if (JSON.stringify(now[f]) !== JSON.stringify(editing.before[f])) patch[f] = now[f];
    if (!Object.keys(patch).length) { $("customer-dialog").close(); return; }
    $("ce-save").disabled = true;
    try {
      const saved = await C().api("PATCH", `/api/crm/customers/${encodeURIComponent(editing.id)}`, patch);
      editing = null;
      $("customer-dialog").close();
      C().customerSaved(saved);
      C().toast(C().t("cust.saved"), "ok");
    } catch (e) { showError(e); } finally { $("ce-save").disabled = false; }
  }
  document.addEventListener("DOMContentLoaded", () => {
    $("btn-edit-customer").addEventListener("click", open);
    $("customer-form").addEventListener("submit", save);
    $("customer-dialog").addEventListener("close", () => { editing = null; });
  });
})();
