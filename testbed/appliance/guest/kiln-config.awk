# Normalizes a kiln appliance config into "key<TAB>value" lines.
# Accepts (mixed freely):
#   key=value lines                 hostname=box / password=pw / authorized_key=ssh-ed25519 AAAA... (repeatable)
#   a small YAML subset             the installer config or NoCloud user-data / meta-data:
#     hostname: box                 fqdn: box.example
#     password: pw                  chpasswd: { list: "|" block or "- user:pw" items, users: [{name, password}] }
#     ssh_authorized_keys: / authorized_keys: list
#     users: list of maps, their ssh_authorized_keys lists (applied to root) and plain_text_passwd (root)
#     runcmd: list of strings or flow lists ([sh, -c, "..."])
#     instance-id: / local-hostname: (meta-data)
# Output keys: hostname password chpasswd authorized_key runcmd instance_id
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function unq(s) {
  s = trim(s)
  if (s ~ /^".*"$/ && length(s) >= 2) { s = substr(s, 2, length(s) - 2); gsub(/\\"/, "\"", s); gsub(/\\\\/, "\\", s) }
  else if (s ~ /^'.*'$/ && length(s) >= 2) { s = substr(s, 2, length(s) - 2); gsub(/''/, "'", s) }
  return s
}
function sq(s) { gsub(/'/, "'\\''", s); return "'" s "'" }
function flow(s,   n, i, a, out) {
  s = trim(s); s = substr(s, 2); sub(/\][ \t]*$/, "", s)
  n = split(s, a, ","); out = ""
  for (i = 1; i <= n; i++) out = out (i > 1 ? " " : "") sq(unq(a[i]))
  return out
}
function emit(k, v) { if (v != "") printf "%s\t%s\n", k, v }
function indentof(s) { match(s, /^ */); return RLENGTH }
function kv(k, v) {
  if (k == "authorized_keys" || k == "ssh_authorized_keys" || k == "ssh_authorized_key") k = "authorized_key"
  if (k == "instance-id") k = "instance_id"
  if (k == "fqdn" || k == "local-hostname" || k == "local_hostname") k = "hostname"
  emit(k, unq(v))
}
function topscalar(k, v) {
  if (v ~ /^\{/ || v ~ /^\[/ && k != "runcmd") return
  if (k == "hostname" || k == "fqdn" || k == "password" || k == "instance-id" || k == "local-hostname") kv(k, v)
  else if (k == "authorized_key") kv(k, v)
}
function listitem(v) {
  if (top == "ssh_authorized_keys" || top == "authorized_keys") emit("authorized_key", unq(v))
  else if (top == "runcmd") emit("runcmd", v ~ /^\[/ ? flow(v) : unq(v))
  else if (top == "users" && sub_ == "ssh_authorized_keys") emit("authorized_key", unq(v))
  else if (top == "chpasswd" && sub_ == "list") emit("chpasswd", unq(v))
}
function blockline(v) {
  if (blk_top == "chpasswd" && blk_sub == "list") emit("chpasswd", v)
  else if (blk_top == "runcmd") emit("runcmd", v)
}
function end_item() {
  if (!in_item) return
  if (item_top == "chpasswd" && item_sub == "users" && item["name"] != "" && item["password"] != "")
    emit("chpasswd", item["name"] ":" item["password"])
  if (item_top == "users" && item["name"] == "root" && item["plain_text_passwd"] != "")
    emit("chpasswd", "root:" item["plain_text_passwd"])
  in_item = 0; delete item
}
function field(k, v) {
  if (in_item) item[k] = unq(v)
}
{ sub(/\r$/, "") }
blk_active {
  if ($0 ~ /^[ \t]*$/) next
  if (indentof($0) > blk_ind) { blockline(trim($0)); next }
  blk_active = 0
}
/^[ \t]*#/ || /^[ \t]*$/ || /^---/ { next }
/^[A-Za-z_][A-Za-z0-9_.-]*=/ {
  k = $0; sub(/=.*/, "", k); kv(k, substr($0, length(k) + 2)); next
}
{
  ind = indentof($0); line = trim($0)
  if (ind == 0 && line !~ /^-( |$)/) {
    end_item()
    k = line; sub(/:.*/, "", k); v = trim(substr(line, length(k) + 2))
    top = k; sub_ = ""; sub_ind = -1
    if (v ~ /^[|>]/) { blk_active = 1; blk_ind = 0; blk_top = top; blk_sub = ""; next }
    topscalar(top, v); next
  }
  if (line ~ /^-( |$)/) {
    it = trim(substr(line, 2))
    if (sub_ != "" && ind <= sub_ind && !(in_item && ind > item_ind0)) sub_ = ""
    if (it ~ /^[A-Za-z_][A-Za-z0-9_-]*:( |$)/) {
      end_item(); in_item = 1; item_top = top; item_sub = sub_; item_ind0 = ind
      k = it; sub(/:.*/, "", k); v = trim(substr(it, length(k) + 2)); field(k, v)
      next
    }
    if (in_item && sub_ == "") end_item()
    listitem(it); next
  }
  # "key: value" at ind > 0
  k = line; sub(/:.*/, "", k); v = trim(substr(line, length(k) + 2))
  if (in_item && ind <= item_ind0) { end_item() }
  if (v == "" || v ~ /^[|>]/) {
    if (in_item) { inner = k; sub_ = k; sub_ind = ind }
    else { sub_ = k; sub_ind = ind }
    if (v ~ /^[|>]/) { blk_active = 1; blk_ind = ind; blk_top = top; blk_sub = k }
    next
  }
  if (in_item) field(k, v)
  else if (top == "chpasswd" && k == "list") { }
}
END { end_item() }
