# Flattens a JSON document into "path=value" lines (links.0.id=tap0a1b2c3d-4e), so that
# busybox sh can read network_data.json. Strings lose their quotes; escapes keep the
# escaped character. Empty objects and arrays print nothing.
function skip() { while (i <= n && index(" \t\r\n", substr(s, i, 1))) i++ }
function str(   v, c) {
  i++; v = ""
  while (i <= n) {
    c = substr(s, i, 1)
    if (c == "\\") { v = v substr(s, i + 1, 1); i += 2; continue }
    if (c == "\"") { i++; return v }
    v = v c; i++
  }
  return v
}
function value(path,   c, k, idx, v) {
  skip(); c = substr(s, i, 1)
  if (c == "{") {
    i++; skip()
    if (substr(s, i, 1) == "}") { i++; return }
    while (i <= n) {
      skip(); k = str(); skip(); i++
      value((path == "" ? k : path "." k))
      skip(); c = substr(s, i, 1); i++
      if (c == "}") return
    }
    return
  }
  if (c == "[") {
    i++; skip(); idx = 0
    if (substr(s, i, 1) == "]") { i++; return }
    while (i <= n) {
      value(path "." idx); idx++
      skip(); c = substr(s, i, 1); i++
      if (c == "]") return
    }
    return
  }
  if (c == "\"") { print path "=" str(); return }
  v = ""
  while (i <= n && !index(",}] \t\r\n", substr(s, i, 1))) { v = v substr(s, i, 1); i++ }
  print path "=" v
}
{ s = s $0 "\n" }
END { n = length(s); i = 1; value("") }
