/**
 * Preloaded by the sandbox runner only when a test asks for another copy of files/ (StackRun.filesDir):
 * the program then renders its host files from that copy, so a test can deploy a deliberately broken
 * template. The Pulumi program itself never reads this variable.
 */
import { useFilesDir } from "../components/templates";

const dir = process.env.DJANGO_DEPLOY_SANDBOX_FILES_DIR;
if (dir) useFilesDir(dir);
