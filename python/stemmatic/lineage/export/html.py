"""A self-contained HTML viewer of a lineage graph: one page, no network.

Its script, style and data are inline; it offers a search box, an
ancestors/descendants switch and the evidence of an edge on hover, and lays
out the chosen node's ancestry in the browser as :mod:`.render` does in
Python (layers by longest distance from the roots, edges coloured by
relation). The graph is embedded as node-link JSON, which
:func:`~stemmatic.lineage.export.render.read_embedded` reads back.

>>> from stemmatic.lineage.graph import LineageGraph
>>> from stemmatic.lineage.export.render import read_embedded
>>> g = LineageGraph(); _ = g.add_edge("openai/gsm8k", "meta-math/metamathqa", "rewrite")
>>> read_embedded(render_html(g)).num_edges
1
"""

from __future__ import annotations

import re

from stemmatic.lineage._files import dumps_json
from stemmatic.lineage.export._text import xml_text
from stemmatic.lineage.export.render import _KIND_FILL, _MARKER, RELATION_COLORS
from stemmatic.lineage.graph import LineageGraph

__all__ = ["render_html"]

_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font-family:Helvetica,Arial,sans-serif;margin:0;display:flex;flex-direction:column;height:100vh}
header{padding:8px;border-bottom:1px solid #ccc;display:flex;gap:8px;align-items:center}
#view{flex:1;overflow:auto}#info{padding:6px 8px;border-top:1px solid #ccc;font-size:12px;min-height:2em}
input{width:28em}
</style></head><body>
<header><b>stemmatic lineage</b><input id="q" list="keys" placeholder="dataset, model or benchmark key">
<select id="dir"><option>ancestors</option><option>descendants</option><option>both</option></select>
<span id="count"></span><datalist id="keys"></datalist></header>
<div id="view"></div><div id="info">Hover an edge for its evidence.</div>
<script type="application/json" id="__MARKER__">__DATA__</script>
<script>
(function(){
const data=JSON.parse(document.getElementById("__MARKER__").textContent);
const COLORS=__COLORS__, FILL=__FILL__, W=230,H=26,GX=70,GY=12;
const nodes=data.nodes, index=new Map(nodes.map((n,i)=>[n.id,i]));
const out=nodes.map(()=>[]), inn=nodes.map(()=>[]);
data.links.forEach((l,e)=>{out[index.get(l.source)].push(e);inn[index.get(l.target)].push(e);});
const list=document.getElementById("keys");
nodes.forEach(n=>{const o=document.createElement("option");o.value=n.id;list.appendChild(o);});
function reach(start,adj,end){const seen=new Set([start]),stack=[start];
 while(stack.length){const v=stack.pop();for(const e of adj[v]){const w=index.get(data.links[e][end]);
  if(!seen.has(w)){seen.add(w);stack.push(w);}}}return seen;}
function esc(s){return String(s).replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));}
function draw(key){
 const start=index.get(key);if(start===undefined)return;
 const dir=document.getElementById("dir").value;let keep=new Set([start]);
 if(dir!=="descendants")reach(start,inn,"source").forEach(v=>keep.add(v));
 if(dir!=="ancestors")reach(start,out,"target").forEach(v=>keep.add(v));
 const links=[];keep.forEach(v=>out[v].forEach(e=>{if(keep.has(index.get(data.links[e].target)))links.push(e);}));
 const depth=new Map([...keep].map(v=>[v,0]));
 for(let pass=0;pass<keep.size;pass++){let changed=false;
  for(const e of links){const l=data.links[e],u=index.get(l.source),v=index.get(l.target);
   if(depth.get(u)+1>depth.get(v)&&depth.get(u)+1<keep.size){depth.set(v,depth.get(u)+1);changed=true;}}
  if(!changed)break;}
 const layers=new Map();keep.forEach(v=>{const d=depth.get(v);if(!layers.has(d))layers.set(d,[]);layers.get(d).push(v);});
 const pos=new Map();[...layers.keys()].sort((a,b)=>a-b).forEach(d=>{
  const bary=v=>{const ys=inn[v].map(e=>pos.get(index.get(data.links[e].source))).filter(p=>p).map(p=>p[1]);
   return ys.length?ys.reduce((a,b)=>a+b,0)/ys.length:0;};
  layers.get(d).sort((a,b)=>bary(a)-bary(b)||(nodes[a].id<nodes[b].id?-1:1))
   .forEach((v,row)=>pos.set(v,[20+d*(W+GX),20+row*(H+GY)]));});
 let w=0,h=0;pos.forEach(p=>{w=Math.max(w,p[0]+W+20);h=Math.max(h,p[1]+H+20);});
 let s=`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-size="11">`;
 for(const e of links){const l=data.links[e],a=pos.get(index.get(l.source)),b=pos.get(index.get(l.target));
  const sx=a[0]+W,sy=a[1]+H/2,tx=b[0],ty=b[1]+H/2,k=Math.max(30,(tx-sx)/2);
  s+=`<path data-e="${e}" d="M ${sx} ${sy} C ${sx+k} ${sy}, ${tx-k} ${ty}, ${tx} ${ty}" fill="none" stroke="${esc(COLORS[l.relation]||"#888")}" stroke-width="2"/>`;}
 pos.forEach((p,v)=>{const n=nodes[v],lab=n.id.length>36?n.id.slice(0,35)+"…":n.id;
  s+=`<g data-k="${esc(n.id)}" style="cursor:pointer"><title>${esc(n.id)} (${esc(n.kind)})</title><rect x="${p[0]}" y="${p[1]}" width="${W}" height="${H}" rx="4" fill="${esc(FILL[n.kind]||"#fff")}" stroke="${v===start?"#d62728":"#555"}"/><text x="${p[0]+6}" y="${p[1]+17}">${esc(lab)}</text></g>`;});
 const view=document.getElementById("view");view.innerHTML=s+"</svg>";
 document.getElementById("count").textContent=`${keep.size} nodes, ${links.length} edges`;
 view.querySelectorAll("path").forEach(p=>p.addEventListener("mouseenter",()=>{const l=data.links[+p.dataset.e];
  document.getElementById("info").textContent=`${l.source} -${l.relation}-> ${l.target} (confidence ${l.confidence}) `+
   (l.evidence||[]).map(x=>`[${x.source_kind}] ${x.quote} ${x.url}`).join(" | ");}));
 view.querySelectorAll("g").forEach(g=>g.addEventListener("click",()=>{document.getElementById("q").value=g.dataset.k;draw(g.dataset.k);}));
}
const q=document.getElementById("q");q.addEventListener("change",()=>draw(q.value));
document.getElementById("dir").addEventListener("change",()=>draw(q.value));
q.value=__START__;draw(q.value);
})();
</script></body></html>
"""


def render_html(graph: LineageGraph, *, start: str | None = None, title: str = "stemmatic lineage") -> str:
    """A self-contained HTML viewer of the whole graph (inline script, style and data; no CDN).

    Args:
        graph: the lineage graph.
        start: the node shown first (default: the one with the most ancestors).
        title: the page title.
    """
    if start is None:
        rx = graph._rx
        start_index = max(
            range(graph.num_nodes), key=lambda i: (len(rx.ancestors(graph.graph, i)), -i), default=None
        )
        start_key = graph.keys[start_index] if start_index is not None else ""
    else:
        start_key = graph.keys[graph.index(start)]
    return _fill(
        _HTML,
        TITLE=xml_text(title),
        MARKER=_MARKER,
        COLORS=dumps_json(RELATION_COLORS, embed=True),
        FILL=dumps_json(_KIND_FILL, embed=True),
        START=dumps_json(start_key, embed=True),
        DATA=dumps_json(graph.to_dict(), embed=True),
    )


_SLOT = re.compile(r"__([A-Z]+)__")


def _fill(template: str, **values: str) -> str:
    """The one place data enters the page: every slot filled in a single pass.

    Values arrive encoded for their context (:func:`xml_text` for markup,
    ``dumps_json(embed=True)`` inside ``<script>``), and text already filled in is never
    searched again, so a title or key that spells ``__DATA__`` stays text.
    """
    return _SLOT.sub(lambda m: values[m.group(1)], template)
