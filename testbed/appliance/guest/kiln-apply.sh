# Sourced by the installer and by /etc/init.d/cidata.
# kiln_apply NORMALIZED_FILE ROOTDIR: applies hostname / password / chpasswd /
# authorized_key lines to the system under ROOTDIR; appends runcmd lines to
# ROOTDIR/var/lib/kiln/runcmd.sh (the caller decides when to run it).
kiln_set_root_password() { # ROOTDIR PASSWORD
  _hash="$(mkpasswd -m sha512 "$2")" || return 1
  _tmp="$1/etc/shadow.kiln"
  awk -F: -v OFS=: -v h="$_hash" '$1 == "root" { $2 = h } { print }' "$1/etc/shadow" >"$_tmp" &&
    chmod 0600 "$_tmp" && mv "$_tmp" "$1/etc/shadow"
}
kiln_apply() { # FILE ROOTDIR
  _f="$1"
  _r="$2"
  mkdir -p "$_r/root/.ssh" "$_r/var/lib/kiln"
  chmod 0700 "$_r/root" "$_r/root/.ssh"
  while IFS="$(printf '\t')" read -r _k _v; do
    case "$_k" in
      hostname) echo "$_v" >"$_r/etc/hostname" ;;
      password) kiln_set_root_password "$_r" "$_v" ;;
      chpasswd)
        case "$_v" in
          root:*) kiln_set_root_password "$_r" "${_v#root:}" ;;
          *) echo "kiln: only root exists, ignoring chpasswd for ${_v%%:*}" ;;
        esac
        ;;
      authorized_key)
        touch "$_r/root/.ssh/authorized_keys"
        grep -qxF "$_v" "$_r/root/.ssh/authorized_keys" || echo "$_v" >>"$_r/root/.ssh/authorized_keys"
        chmod 0600 "$_r/root/.ssh/authorized_keys"
        ;;
      runcmd) echo "$_v" >>"$_r/var/lib/kiln/runcmd.sh" ;;
    esac
  done <"$_f"
  return 0
}
