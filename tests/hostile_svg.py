"""Hostile performance-baseline SVGs for the audit page (issue 21, item 5).

Each vector, formatted with run= a script and beacon= a URL, tries to run the script in the
page or to make the page fetch the URL. The script sets document.title and fetches the beacon;
it has no spaces so that it fits an unquoted attribute.
"""

import base64

SVG_NS = 'xmlns="http://www.w3.org/2000/svg"'
XLINK_NS = 'xmlns:xlink="http://www.w3.org/1999/xlink"'
XHTML_NS = 'xmlns="http://www.w3.org/1999/xhtml"'
PWNED = "pwned"


def script(beacon):
    return "document.title='%s';fetch('%s')" % (PWNED, beacon)


def _inner_svg(run):
    inner = '<svg %s id="x"><script>%s</script></svg>' % (SVG_NS, run)
    return base64.b64encode(inner.encode("utf-8")).decode("ascii")


VECTORS = {
    "unquoted-onload": '<svg {svg} onload={run}><rect width="10" height="10"/></svg>',
    "slash-separated-onload": '<svg/onload={run} {svg}><rect width="10" height="10"/></svg>',
    "odd-case-script": '<svg {svg}><ScRiPt>{run}</ScRiPt></svg>',
    "script-end-tag-with-attribute": '<svg {svg}><script>{run}</script x></svg>',
    "script-rebuilt-by-removal": '<svg {svg}><scr<script></script>ipt>{run}</scr<script></script>ipt></svg>',
    "javascript-link": '<svg {svg}><a href="javascript:{run}"><text x="5" y="15">open</text></a></svg>',
    "unquoted-javascript-link": '<svg {svg}><a href=javascript:{run}><text x="5" y="15">open</text></a></svg>',
    "entity-encoded-javascript-link": '<svg {svg}><a href="&#106;avascript:{run}"><text x="5" y="15">open</text></a></svg>',
    "xlink-href-link": '<svg {svg} {xlink}><a xlink:href="javascript:{run}"><rect width="10" height="10"/></a></svg>',
    "animated-href": '<svg {svg}><a><animate attributeName="href" values="javascript:{run}"/>'
                     '<text x="5" y="15">open</text></a></svg>',
    "foreign-object-img": '<svg {svg}><foreignObject width="10" height="10"><img {xhtml} src="x" onerror={run}/>'
                          '</foreignObject></svg>',
    "foreign-object-iframe": '<svg {svg}><foreignObject width="100" height="100"><iframe {xhtml} '
                             'srcdoc="&lt;script&gt;parent.{run}&lt;/script&gt;"></iframe></foreignObject></svg>',
    "html-img-breaks-out-of-svg": '<svg {svg}><img src=x onerror={run}></svg>',
    "iframe-javascript-src": '<svg {svg}><iframe src="javascript:parent.{run}"></iframe></svg>',
    "use-data-href": '<svg {svg}><use href="data:image/svg+xml;base64,{inner}#x"/></svg>',
    "internal-dtd-entity": '<!DOCTYPE svg [<!ENTITY x "&#60;script&#62;{run}&#60;/script&#62;">]><svg {svg}>&x;</svg>',
    "style-import": '<svg {svg}><style>@import url("{beacon}");</style><rect width="10" height="10"/></svg>',
    "css-url-in-fill": '<svg {svg}><rect width="10" height="10" fill="url({beacon}#p)"/></svg>',
    "css-javascript-url-in-style": '<svg {svg}><rect width="10" height="10" '
                                   'style="fill:url(javascript:{run});background:url({beacon})"/></svg>',
    "external-image": '<svg {svg}><image href="{beacon}" width="10" height="10"/></svg>',
}


def vector(name, beacon):
    run = script(beacon)
    return VECTORS[name].format(svg=SVG_NS, xlink=XLINK_NS, xhtml=XHTML_NS, run=run, beacon=beacon,
                                inner=_inner_svg(run))
