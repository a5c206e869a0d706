// The bundle `quartz serve` serves at /app/: everything local, no CDN at run time.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/app/",
  build: { outDir: "../dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 800 },
});
