// The point layer: one WebGL2 draw call for every word. Each snapshot's quantised layout (uint16 x, y [n, 2])
// lives in its own vertex buffer, uploaded on first use; the vertex shader dequantises two snapshots with
// their bounds, eases between them and blends towards the Word2Vec space, so a frame costs the CPU nothing
// per point. Returns null where the browser has no WebGL2.
function makePoints(canvas, n) {
  const gl = canvas.getContext("webgl2", { antialias: false, preserveDrawingBuffer: true, premultipliedAlpha: true });
  if (!gl) return null;
  const VS = `#version 300 es
    layout(location = 0) in vec2 q0;      // snapshot i0, 0..1 within its bounds
    layout(location = 1) in vec2 q1;      // snapshot i1
    layout(location = 2) in vec4 colour;  // alpha 0: hidden
    layout(location = 3) in vec3 w2v;     // Word2Vec place, z 0: no vector
    uniform vec4 b0, b1;                  // bounds (min x, max x, min y, max y)
    uniform float f, blend, size;
    uniform vec3 view;                    // scale, ox, oy (CSS px)
    uniform vec2 px;                      // canvas size (CSS px)
    out vec4 v_colour;
    void main() {
      vec2 p = mix(vec2(mix(b0.x, b0.y, q0.x), mix(b0.z, b0.w, q0.y)),
                   vec2(mix(b1.x, b1.y, q1.x), mix(b1.z, b1.w, q1.y)), f);
      p = mix(p, w2v.xy, blend);
      vec2 s = vec2(view.y + p.x * view.x, view.z - p.y * view.x);
      bool hide = colour.a == 0.0 || (blend > 0.0 && w2v.z == 0.0);
      gl_Position = hide ? vec4(2.0, 2.0, 2.0, 1.0) : vec4(2.0 * s.x / px.x - 1.0, 1.0 - 2.0 * s.y / px.y, 0.0, 1.0);
      gl_PointSize = hide ? 0.0 : size;
      v_colour = colour;
    }`;
  const FS = `#version 300 es
    precision mediump float;
    uniform float alpha;
    in vec4 v_colour;
    out vec4 outColour;
    void main() {
      vec2 c = 2.0 * gl_PointCoord - 1.0;
      if (dot(c, c) > 1.0) discard;
      outColour = vec4(v_colour.rgb * alpha, alpha);
    }`;
  function shader(type, source) {
    const s = gl.createShader(type);
    gl.shaderSource(s, source); gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    return s;
  }
  const program = gl.createProgram();
  gl.attachShader(program, shader(gl.VERTEX_SHADER, VS)); gl.attachShader(program, shader(gl.FRAGMENT_SHADER, FS));
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program));
  gl.useProgram(program);
  const u = {};
  for (const name of ["b0", "b1", "f", "blend", "size", "view", "px", "alpha"]) u[name] = gl.getUniformLocation(program, name);
  gl.enable(gl.BLEND); gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);

  const frames = [];  // per snapshot: { q: Uint16Array [n*2], buffer: WebGLBuffer | null }
  function attribute(location, buffer, size, type, normalised) {
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    gl.enableVertexAttribArray(location);
    gl.vertexAttribPointer(location, size, type, normalised, 0, 0);
  }
  function upload(data) {
    const b = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, b); gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
    return b;
  }
  function bufferOf(t) {
    const fr = frames[t];
    if (!fr.buffer) fr.buffer = upload(fr.q);
    return fr.buffer;
  }
  const colourBuffer = upload(new Uint8Array(4 * n));
  let w2vBuffer = null;  // none: the attribute stays constant

  return {
    gl,
    // Add snapshots: q Uint16Array [count, n, 2] (a view into the page's data, kept, uploaded when first drawn).
    append(q) {
      for (let off = 0; off < q.length; off += 2 * n) frames.push({ q: q.subarray(off, off + 2 * n), buffer: null });
    },
    // Snapshot t's new positions q Uint16Array [n, 2].
    replace(t, q) {
      if (frames[t].buffer) gl.deleteBuffer(frames[t].buffer);
      frames[t] = { q, buffer: null };
    },
    colours(rgba) { gl.bindBuffer(gl.ARRAY_BUFFER, colourBuffer); gl.bufferData(gl.ARRAY_BUFFER, rgba, gl.STATIC_DRAW); },
    word2vec(xyz) { w2vBuffer = upload(xyz); },
    // One frame: snapshots i0, i1 (bounds b0, b1), eased fraction f, Word2Vec blend, view {scale, ox, oy}.
    draw(i0, i1, b0, b1, f, blend, view, width, height, dpr, size, alpha) {
      gl.viewport(0, 0, canvas.width, canvas.height);
      gl.clearColor(0, 0, 0, 0); gl.clear(gl.COLOR_BUFFER_BIT);
      attribute(0, bufferOf(i0), 2, gl.UNSIGNED_SHORT, true);
      attribute(1, bufferOf(i1), 2, gl.UNSIGNED_SHORT, true);
      attribute(2, colourBuffer, 4, gl.UNSIGNED_BYTE, true);
      if (w2vBuffer) attribute(3, w2vBuffer, 3, gl.FLOAT, false);
      else { gl.disableVertexAttribArray(3); gl.vertexAttrib3f(3, 0, 0, 1); }
      gl.uniform4fv(u.b0, b0); gl.uniform4fv(u.b1, b1);
      gl.uniform1f(u.f, f); gl.uniform1f(u.blend, blend); gl.uniform1f(u.size, size * dpr); gl.uniform1f(u.alpha, alpha);
      gl.uniform3f(u.view, view.scale, view.ox, view.oy); gl.uniform2f(u.px, width, height);
      gl.drawArrays(gl.POINTS, 0, n);
    },
  };
}
