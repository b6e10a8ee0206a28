// auth.js: who the page acts for. The embedded default (GET /api/config says mode "local",
// or has no /api/config) has no sign-in step. With mode "firebase" the Firebase Web SDK is
// loaded (a separate chunk, only then) and every API call carries the user's ID token.

import { setIdTokenSource } from './api.js';

// Returns null for the embedded default, else a Firebase session object (firebase-auth.js).
export async function startAuth(authConfig, onChange) {
  if (!authConfig || authConfig.mode !== 'firebase') return null;
  const { startFirebase } = await import('./firebase-auth.js');
  const fb = await startFirebase(authConfig, onChange);
  setIdTokenSource(() => fb.idToken());
  return fb;
}
