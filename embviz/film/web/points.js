// The point layer: one WebGL2 draw call for every word. Each snapshot's quantised layout (uint16 x, y [n, 2])
// lives in its own vertex buffer, uploaded on first use; the two snapshots of a frame are bound as two
// attributes and the vertex shader places each point with one affine map per snapshot (dequantising, easing,
// the Word2Vec blend and the view folded into uniforms on the CPU), so a frame costs the CPU nothing per point.
// Software GL (SwiftShader) pays per vertex and per fragment: small square sprites (round only for few
// words), opaque colours pre-mixed with the white page instead of blending, an opaque canvas without depth,
// stencil or a preserved buffer. Returns null where the browser has no WebGL2.
function makePoints(canvas, n) {
  const gl = canvas.getContext("webgl2", { alpha: false, depth: false, stencil: false, antialias: false,
                                           preserveDrawingBuffer: false });
  if (!gl) return null;
  const SIZE = n > 5000 ? 3 : n > 1000 ? 5 : 7, ROUND = SIZE > 3;  // CSS px
  const VS = `#version 300 es
    layout(location = 0) in vec2 q0;      // snapshot i0, 0..1 within its bounds
    layout(location = 1) in vec2 q1;      // snapshot i1
    layout(location = 2) in vec4 colour;  // alpha 0: hidden
    layout(location = 3) in vec3 w2v;     // Word2Vec place, z 0: no vector
    uniform vec2 a0, a1, aw, c;           // clip = a0 q0 + a1 q1 + aw w2v + c
    uniform float w2vOnly, size, alpha;   // w2vOnly 1: a word without a vector is hidden
    flat out vec3 v_colour;
    void main() {
      float hide = 1.0 - colour.a + w2vOnly * (1.0 - w2v.z);  // > 0: pushed out of the clip volume
      gl_Position = vec4(a0 * q0 + a1 * q1 + aw * w2v.xy + c + 4.0 * hide, 0.0, 1.0);
      gl_PointSize = size;
      v_colour = mix(vec3(1.0), colour.rgb, alpha);
    }`;
  const FS = `#version 300 es
    precision mediump float;
    flat in vec3 v_colour;
    out vec4 outColour;
    void main() {
      ${ROUND ? "vec2 c = 2.0 * gl_PointCoord - 1.0; if (dot(c, c) > 1.0) discard;" : ""}
      outColour = vec4(v_colour, 1.0);
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
  for (const name of ["a0", "a1", "aw", "c", "w2vOnly", "size", "alpha"]) u[name] = gl.getUniformLocation(program, name);

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
  attribute(2, colourBuffer, 4, gl.UNSIGNED_BYTE, true);
  gl.vertexAttrib3f(3, 0, 0, 1);  // until word2vec(): every word has a place, none is used
  let bound = [-1, -1];

  return {
    gl,
    size: SIZE,
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
    word2vec(xyz) { attribute(3, upload(xyz), 3, gl.FLOAT, false); },
    // One frame: snapshots i0, i1 (bounds b0, b1: min x, max x, min y, max y), eased fraction f, Word2Vec blend,
    // view {scale, ox, oy} (CSS px) on a width × height CSS px canvas, alpha over white.
    draw(i0, i1, b0, b1, f, blend, view, width, height, dpr, alpha) {
      gl.viewport(0, 0, canvas.width, canvas.height);
      gl.clearColor(1, 1, 1, 1); gl.clear(gl.COLOR_BUFFER_BIT);
      if (bound[0] !== i0) { attribute(0, bufferOf(i0), 2, gl.UNSIGNED_SHORT, true); bound[0] = i0; }
      if (bound[1] !== i1) { attribute(1, bufferOf(i1), 2, gl.UNSIGNED_SHORT, true); bound[1] = i1; }
      // clip = K p + L, p = w0 P0 + w1 P1 + blend W, P = (min x + span x q.x, min y + span y q.y)
      const kx = 2 * view.scale / width, ky = 2 * view.scale / height, w0 = (1 - f) * (1 - blend), w1 = f * (1 - blend);
      gl.uniform2f(u.a0, kx * w0 * (b0[1] - b0[0]), ky * w0 * (b0[3] - b0[2]));
      gl.uniform2f(u.a1, kx * w1 * (b1[1] - b1[0]), ky * w1 * (b1[3] - b1[2]));
      gl.uniform2f(u.aw, kx * blend, ky * blend);
      gl.uniform2f(u.c, 2 * view.ox / width - 1 + kx * (w0 * b0[0] + w1 * b1[0]),
                   1 - 2 * view.oy / height + ky * (w0 * b0[2] + w1 * b1[2]));
      gl.uniform1f(u.w2vOnly, blend > 0 ? 1 : 0); gl.uniform1f(u.size, SIZE * dpr); gl.uniform1f(u.alpha, alpha);
      gl.drawArrays(gl.POINTS, 0, n);
    },
  };
}
