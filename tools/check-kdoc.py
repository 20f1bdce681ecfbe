#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Check the public API's kernel-doc.

Every symbol of the version script must be declared in a public header,
right after a /** ... */ block that names it ("name() - summary"),
documents every parameter with "@param:", and has a "Return:" section
(unless the function returns void).

  check-kdoc.py LIBUIOMMU_SYM HEADER...
"""
import re
import sys


def symbols(symfile):
    text = re.sub(r'/\*.*?\*/', '', open(symfile).read(), flags=re.S)
    return sorted(set(re.findall(r'^\s*([A-Za-z_]\w*)\s*;', text, flags=re.M)))


def declarations(headers):
    """Map function name -> (doc comment, declaration text)."""
    found = {}
    for h in headers:
        text = open(h).read()
        for m in re.finditer(r'/\*\*((?:(?!\*/).)*)\*/\s*([^;{}/]*?\b(\w+)\s*\(([^)]*)\)\s*;)', text, re.S):
            doc, decl, name, params = m.group(1), m.group(2), m.group(3), m.group(4)
            found[name] = (doc, decl, params, h)
    return found


def param_names(params):
    params = params.strip()
    if params in ('', 'void'):
        return []
    names = []
    for p in params.split(','):
        p = p.strip()
        if p == '...':  # a variadic function documents "@...:", as kernel-doc
            names.append(r'\.\.\.')
            continue
        m = re.search(r'(\w+)\s*(\[[^\]]*\])?$', p)
        names.append(m.group(1))
    return names


def main():
    symfile, headers = sys.argv[1], sys.argv[2:]
    decls = declarations(headers)
    errors = []
    for sym in symbols(symfile):
        if sym not in decls:
            errors.append(f'{sym}: no /** */ documented declaration in the public headers')
            continue
        doc, decl, params, header = decls[sym]
        if not re.search(rf'\b{sym}\(\)\s+-\s+\S', doc):
            errors.append(f'{header}: {sym}: doc must start with "{sym}() - summary"')
        for p in param_names(params):
            if not re.search(rf'@{p}:', doc):
                errors.append(f'{header}: {sym}: parameter {p} is not documented')
        returns_void = re.match(r'\s*void\s+\w', decl) is not None
        if not returns_void and 'Return:' not in doc:
            errors.append(f'{header}: {sym}: no "Return:" section')
    for e in errors:
        print(e)
    if errors:
        return 1
    print(f'{len(symbols(symfile))} public functions documented')
    return 0


if __name__ == '__main__':
    sys.exit(main())
