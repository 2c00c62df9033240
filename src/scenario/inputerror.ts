/** Bad input: a message for people, naming the file, the field or line, and what is allowed. Exit code 2. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}
